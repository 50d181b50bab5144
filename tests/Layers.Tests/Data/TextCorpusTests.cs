using System.Text;
using Ttt.Data;
using Xunit;

namespace Ttt.Tests;

/// <summary>A temporary folder removed after the test.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Root);

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "ttt-data-" + Guid.NewGuid().ToString("N"));

    public string Write(string relativePath, byte[] content)
    {
        string path = Path.Combine(Root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        return path;
    }

    public string Write(string relativePath, string text) => Write(relativePath, Encoding.UTF8.GetBytes(text));

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

public class TextCorpusTests
{
    [Fact]
    public void Folder_is_read_recursively_in_sorted_order_and_bytes_round_trip()
    {
        using var folder = new TempFolder();
        // Written out of order; expected stream order is the ordinal order of relative paths.
        folder.Write("c.txt", "third ✓\n");
        folder.Write("a.txt", "first: héllo\n");
        folder.Write("b/inner.md", "second 日本語");
        var corpus = TextCorpus.Load(folder.Root);

        Assert.Equal(["a.txt", "b/inner.md", "c.txt"], corpus.Files);
        byte[] expected = [.. Encoding.UTF8.GetBytes("first: héllo\n"), 0, .. Encoding.UTF8.GetBytes("second 日本語"), 0, .. Encoding.UTF8.GetBytes("third ✓\n")];
        var tokens = corpus.Tokens.ToArray().Select(t => (long)t).ToArray();
        Assert.Equal(expected, ByteTokenizer.ToBytes(tokens));
        Assert.Equal("first: héllo\n\0second 日本語\0third ✓\n", ByteTokenizer.Instance.Decode(tokens));
        Assert.Equal(256, corpus.Tokenizer.VocabSize);
        Assert.Empty(corpus.SkippedFiles);
    }

    [Fact]
    public void Binary_files_are_skipped_and_counted()
    {
        using var folder = new TempFolder();
        folder.Write("good.txt", "text");
        folder.Write("nul.bin", [(byte)'a', 0, (byte)'b']);
        folder.Write("latin1.txt", [(byte)'c', 0xE9, (byte)'d']); // é in Latin-1 is not valid UTF-8
        folder.Write("truncated.txt", [0xE6, 0x97]);              // a cut 3-byte sequence
        folder.Write("empty.txt", []);
        var logged = new List<string>();
        var corpus = TextCorpus.Load(folder.Root, log: logged.Add);

        Assert.Equal(["good.txt"], corpus.Files);
        Assert.Equal(["latin1.txt", "nul.bin", "truncated.txt"], corpus.SkippedFiles);
        Assert.Equal(1, corpus.EmptyFileCount);
        Assert.Equal("text", Encoding.UTF8.GetString(corpus.Tokens.ToArray().Select(t => (byte)t).ToArray()));
        Assert.Contains("skipped 3 binary files (invalid UTF-8 or NUL bytes)", corpus.Summary, StringComparison.Ordinal);
        Assert.Contains("skipped 1 empty file", corpus.Summary, StringComparison.Ordinal);
        Assert.Equal([corpus.Summary], logged);
    }

    [Fact]
    public void A_single_file_is_a_corpus_of_one_document()
    {
        using var folder = new TempFolder();
        string path = folder.Write("only.txt", "just this");
        var corpus = TextCorpus.Load(path);
        Assert.Equal(["only.txt"], corpus.Files);
        Assert.Equal(9, corpus.TokenCount);
    }

    [Fact]
    public void Missing_path_is_a_clear_error()
    {
        string missing = Path.Combine(Path.GetTempPath(), "ttt-no-such-corpus-" + Guid.NewGuid().ToString("N"));
        var error = Assert.Throws<FileNotFoundException>(() => TextCorpus.Load(missing));
        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Corpus_without_text_is_a_clear_error()
    {
        using var folder = new TempFolder();
        var emptyFolder = Assert.Throws<InvalidDataException>(() => TextCorpus.Load(folder.Root));
        Assert.Contains("is empty", emptyFolder.Message, StringComparison.Ordinal);

        folder.Write("a.bin", [1, 2, 0, 3]);
        folder.Write("b.txt", []);
        var onlyBinary = Assert.Throws<InvalidDataException>(() => TextCorpus.Load(folder.Root));
        Assert.Contains("2 files found", onlyBinary.Message, StringComparison.Ordinal);
        Assert.Contains("1 skipped as binary", onlyBinary.Message, StringComparison.Ordinal);
        Assert.Contains("1 empty", onlyBinary.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Corpus_shorter_than_one_window_is_a_clear_error()
    {
        using var folder = new TempFolder();
        folder.Write("short.txt", new string('x', 400));
        var corpus = TextCorpus.Load(folder.Root); // 380 train tokens, 20 eval tokens
        Assert.Equal(20, corpus.EvalTokenCount);
        var evalError = Assert.Throws<InvalidDataException>(() => new TextDataSource(corpus, 0, DataSplit.Eval, 20));
        Assert.Contains("eval part has 20", evalError.Message, StringComparison.Ordinal);
        Assert.Contains("window of T+1 = 21", evalError.Message, StringComparison.Ordinal);
        var trainError = Assert.Throws<InvalidDataException>(() => new TextDataSource(corpus, 0, DataSplit.Train, 400));
        Assert.Contains("train part has 380", trainError.Message, StringComparison.Ordinal);
        _ = new TextDataSource(corpus, 0, DataSplit.Eval, 19); // exactly one window fits
        _ = new TextDataSource(corpus, 0, DataSplit.Train, 379);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void Eval_fraction_must_lie_strictly_between_0_and_1(double fraction)
    {
        using var folder = new TempFolder();
        folder.Write("a.txt", "abc");
        Assert.Throws<ArgumentOutOfRangeException>(() => TextCorpus.Load(folder.Root, evalFraction: fraction));
    }

    [Fact]
    public void Eval_part_is_the_last_share_of_the_stream_rounded_up()
    {
        using var folder = new TempFolder();
        folder.Write("a.txt", new string('a', 1001));
        var corpus = TextCorpus.Load(folder.Root);
        Assert.Equal(51, corpus.EvalTokenCount); // ⌈1001 · 0.05⌉
        Assert.Equal(950, corpus.TrainTokenCount);
        Assert.Equal(101, TextCorpus.Load(folder.Root, evalFraction: 0.1).EvalTokenCount);
    }
}
