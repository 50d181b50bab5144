using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Unicode;

namespace Ttt.Data;

/// <summary>
/// A tokenized text corpus: one UTF-8 file, or every file under a folder (recursively, in ordinal order of the
/// '/'-separated relative path, so the order is the same on every machine). Files that are not text — invalid
/// UTF-8 or containing a NUL byte — are skipped and counted in <see cref="Summary"/>; empty files are skipped too.
/// The remaining documents are tokenized and concatenated into one stream [N] with the tokenizer's separator
/// between consecutive documents. The last <see cref="EvalFraction"/> of the stream (rounded up to whole tokens)
/// is the eval part, the rest the train part; the split depends only on the corpus, never on the window length,
/// so runs with different sequence lengths agree on what is held out.
/// </summary>
public sealed class TextCorpus
{
    /// <summary>Default eval share: the last 5 % of the token stream.</summary>
    public const double DefaultEvalFraction = 0.05;

    private readonly int[] _tokens;

    private TextCorpus(string path, ITextTokenizer tokenizer, double evalFraction, int[] tokens,
        IReadOnlyList<string> files, IReadOnlyList<string> skippedFiles, int emptyFileCount)
    {
        Path = path;
        Tokenizer = tokenizer;
        EvalFraction = evalFraction;
        _tokens = tokens;
        Files = files;
        SkippedFiles = skippedFiles;
        EmptyFileCount = emptyFileCount;
        // At least one token on each side when possible; whether each side holds a full window is checked by
        // TextDataSource, which knows T.
        EvalTokenCount = (int)Math.Min(tokens.Length, Math.Max(1, Math.Ceiling(tokens.Length * evalFraction)));
        Fingerprint = ComputeFingerprint(tokenizer.Name, tokens);
    }

    /// <summary>The path the corpus was loaded from, as given.</summary>
    public string Path { get; }

    /// <summary>The tokenizer that produced <see cref="Tokens"/>.</summary>
    public ITextTokenizer Tokenizer { get; }

    /// <summary>The share of the stream held out for evaluation.</summary>
    public double EvalFraction { get; }

    /// <summary>The whole token stream [N]: train part, then eval part.</summary>
    public ReadOnlySpan<int> Tokens => _tokens;

    /// <summary>N, the number of tokens in the stream.</summary>
    public int TokenCount => _tokens.Length;

    /// <summary>Tokens in the eval part (the end of the stream): ⌈N · <see cref="EvalFraction"/>⌉, at least 1.</summary>
    public int EvalTokenCount { get; }

    /// <summary>Tokens in the train part (the start of the stream).</summary>
    public int TrainTokenCount => _tokens.Length - EvalTokenCount;

    /// <summary>The documents used, as paths relative to the corpus folder ('/'-separated), in stream order.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>Files skipped as binary (invalid UTF-8 or NUL bytes), relative paths in order.</summary>
    public IReadOnlyList<string> SkippedFiles { get; }

    /// <summary>The number of empty files (no document, no separator).</summary>
    public int EmptyFileCount { get; }

    /// <summary>SHA-256 (first 16 hex digits) of the tokenizer name and the token stream: identifies the corpus in saved data states.</summary>
    public string Fingerprint { get; }

    /// <summary>A one-line description: documents, tokens, the split, and how many files were skipped and why.</summary>
    public string Summary
    {
        get
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture,
                $"text corpus '{Path}': {Files.Count} documents, {TokenCount} {Tokenizer.Name} tokens ({TrainTokenCount} train, {EvalTokenCount} eval = last {EvalFraction:P1} of the stream)");
            if (SkippedFiles.Count > 0)
                text.Append(CultureInfo.InvariantCulture,
                    $"; skipped {SkippedFiles.Count} binary file{(SkippedFiles.Count == 1 ? "" : "s")} (invalid UTF-8 or NUL bytes): {string.Join(", ", SkippedFiles.Take(5))}{(SkippedFiles.Count > 5 ? ", …" : "")}");
            if (EmptyFileCount > 0) text.Append(CultureInfo.InvariantCulture, $"; skipped {EmptyFileCount} empty file{(EmptyFileCount == 1 ? "" : "s")}");
            return text.ToString();
        }
    }

    /// <summary>
    /// Reads and tokenizes the file or folder at <paramref name="path"/> with <paramref name="tokenizer"/>
    /// (default: bytes). Throws <see cref="FileNotFoundException"/> for a missing path and
    /// <see cref="InvalidDataException"/> when no text is found. <paramref name="log"/>, if given, receives
    /// <see cref="Summary"/>.
    /// </summary>
    public static TextCorpus Load(string path, ITextTokenizer? tokenizer = null, double evalFraction = DefaultEvalFraction, Action<string>? log = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!(evalFraction > 0 && evalFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(evalFraction), evalFraction, "the eval fraction must lie strictly between 0 and 1");
        tokenizer ??= ByteTokenizer.Instance;

        var (root, files) = ListFiles(path);
        var tokens = new List<int>();
        var used = new List<string>();
        var skipped = new List<string>();
        int empty = 0;
        foreach (var (fullPath, relativePath) in files)
        {
            byte[] bytes = File.ReadAllBytes(fullPath);
            if (bytes.AsSpan().Contains((byte)0) || !Utf8.IsValid(bytes))
            {
                skipped.Add(relativePath);
                continue;
            }
            if (bytes.Length == 0)
            {
                empty++;
                continue;
            }
            if (used.Count > 0) tokens.Add(tokenizer.SeparatorToken);
            tokenizer.Encode(bytes, tokens);
            used.Add(relativePath);
        }
        if (tokens.Count == 0)
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"text corpus '{path}' is empty: {files.Count} file{(files.Count == 1 ? "" : "s")} found under '{root}', {skipped.Count} skipped as binary (invalid UTF-8 or NUL bytes), {empty} empty"));
        var corpus = new TextCorpus(path, tokenizer, evalFraction, [.. tokens], used, skipped, empty);
        log?.Invoke(corpus.Summary);
        return corpus;
    }

    /// <summary>
    /// The files of the corpus with their relative paths, sorted ordinally. Symbolic links to folders are not
    /// followed (they could form cycles); links to files are read.
    /// </summary>
    private static (string Root, List<(string FullPath, string RelativePath)> Files) ListFiles(string path)
    {
        string fullPath = System.IO.Path.GetFullPath(path);
        if (File.Exists(fullPath))
            return (System.IO.Path.GetDirectoryName(fullPath) ?? fullPath, [(fullPath, System.IO.Path.GetFileName(fullPath))]);
        if (!Directory.Exists(fullPath))
            throw new FileNotFoundException($"text corpus path '{path}' does not exist (expected a UTF-8 file or a folder of them)", path);
        var found = new List<string>();
        var pending = new Stack<string>();
        pending.Push(fullPath);
        while (pending.Count > 0)
        {
            string folder = pending.Pop();
            found.AddRange(Directory.EnumerateFiles(folder));
            foreach (string child in Directory.EnumerateDirectories(folder))
                if ((File.GetAttributes(child) & FileAttributes.ReparsePoint) == 0) pending.Push(child);
        }
        var files = found
            .Select(f => (FullPath: f, RelativePath: System.IO.Path.GetRelativePath(fullPath, f).Replace('\\', '/')))
            .OrderBy(f => f.RelativePath, StringComparer.Ordinal)
            .ToList();
        return (fullPath, files);
    }

    private static string ComputeFingerprint(string tokenizerName, int[] tokens)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(tokenizerName + "\n"));
        Span<byte> word = stackalloc byte[4];
        var chunk = new byte[4096 * 4];
        for (int start = 0; start < tokens.Length; start += 4096)
        {
            int count = Math.Min(4096, tokens.Length - start);
            for (int i = 0; i < count; i++) BinaryPrimitives.WriteInt32LittleEndian(chunk.AsSpan(4 * i, 4), tokens[start + i]);
            hash.AppendData(chunk, 0, 4 * count);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
    }
}
