using System.Text;

namespace Ttt.Data;

/// <summary>
/// Byte-level tokens: each byte of the UTF-8 text is one id in [0, 256). The document separator is byte 0 (NUL),
/// which never occurs inside a corpus document because files holding NUL bytes are skipped as binary.
/// </summary>
public sealed class ByteTokenizer : ITextTokenizer
{
    /// <summary>The tokenizer's name, "byte".</summary>
    public const string TokenizerName = "byte";

    private ByteTokenizer() { }

    /// <summary>The single instance (the tokenizer has no state).</summary>
    public static ByteTokenizer Instance { get; } = new();

    /// <inheritdoc />
    public string Name => TokenizerName;

    /// <inheritdoc />
    public int VocabSize => 256;

    /// <inheritdoc />
    public int SeparatorToken => 0;

    /// <inheritdoc />
    public void Encode(ReadOnlySpan<byte> utf8Text, List<int> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.EnsureCapacity(output.Count + utf8Text.Length);
        foreach (byte b in utf8Text) output.Add(b);
    }

    /// <summary>The bytes of <paramref name="tokens"/> (each must lie in [0, 256)).</summary>
    public static byte[] ToBytes(ReadOnlySpan<long> tokens)
    {
        var bytes = new byte[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
            bytes[i] = tokens[i] is >= 0 and < 256 ? (byte)tokens[i] : throw new ArgumentException($"token {tokens[i]} at {i} is not a byte", nameof(tokens));
        return bytes;
    }

    /// <inheritdoc />
    public string Decode(ReadOnlySpan<long> tokens) => Encoding.UTF8.GetString(ToBytes(tokens));
}
