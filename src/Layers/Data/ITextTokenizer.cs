namespace Ttt.Data;

/// <summary>Turns UTF-8 text into token ids for <see cref="TextCorpus"/> and back.</summary>
public interface ITextTokenizer
{
    /// <summary>The name used on the command line and in saved data states ("byte" or "gpt2").</summary>
    string Name { get; }

    /// <summary>V: every id lies in [0, V).</summary>
    int VocabSize { get; }

    /// <summary>The id placed between consecutive documents of a corpus.</summary>
    int SeparatorToken { get; }

    /// <summary>Appends the ids of <paramref name="utf8Text"/> (valid UTF-8, no NUL bytes) to <paramref name="output"/>.</summary>
    void Encode(ReadOnlySpan<byte> utf8Text, List<int> output);

    /// <summary>The text of <paramref name="tokens"/> (lossy where a window cuts a multi-byte character).</summary>
    string Decode(ReadOnlySpan<long> tokens);
}

/// <summary>Looks tokenizers up by name.</summary>
public static class TextTokenizers
{
    /// <summary>The names <see cref="Create"/> accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = [ByteTokenizer.TokenizerName, Gpt2Tokenizer.TokenizerName];

    /// <summary>"byte" (default: vocabulary 256) or "gpt2" (GPT-2 BPE, vocabulary 50257).</summary>
    public static ITextTokenizer Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.Trim().ToLowerInvariant() switch
        {
            ByteTokenizer.TokenizerName or "bytes" => ByteTokenizer.Instance,
            Gpt2Tokenizer.TokenizerName or "gpt-2" => Gpt2Tokenizer.Instance,
            _ => throw new ArgumentException($"unknown tokenizer '{name}': expected one of {string.Join(", ", Names)}", nameof(name)),
        };
    }
}
