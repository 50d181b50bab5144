using System.Text;
using Ttt.Data;
using Xunit;

namespace Ttt.Tests;

public class TextDataSourceTests
{
    /// <summary>A corpus whose train part is all 'a' and whose eval part (the last 5 %) is all 'b'.</summary>
    private static TextCorpus MarkedCorpus(TempFolder folder)
    {
        folder.Write("doc.txt", new string('a', 950) + new string('b', 50));
        var corpus = TextCorpus.Load(folder.Root);
        Assert.Equal(50, corpus.EvalTokenCount);
        return corpus;
    }

    [Fact]
    public void Train_windows_never_touch_eval_text_and_eval_windows_never_touch_train_text()
    {
        using var folder = new TempFolder();
        var corpus = MarkedCorpus(folder);
        var train = new TextDataSource(corpus, 4, DataSplit.Train, 15).NextBatch(2000);
        var eval = new TextDataSource(corpus, 4, DataSplit.Eval, 15).NextBatch(20);
        Assert.All(train.Tokens.ToArray(), t => Assert.Equal('a', t));
        Assert.All(eval.Tokens.ToArray(), t => Assert.Equal('b', t));
    }

    [Fact]
    public void Random_train_windows_cover_the_train_part_up_to_its_last_full_window()
    {
        using var folder = new TempFolder();
        var corpus = MarkedCorpus(folder);
        var source = new TextDataSource(corpus, 1, DataSplit.Train, 15);
        var starts = Enumerable.Range(0, 20_000).Select(i => source.WindowStart(i)).ToArray();
        Assert.Equal(0, starts.Min());
        Assert.Equal(950 - 16, starts.Max()); // the last window ends exactly at the train/eval boundary
        Assert.Equal(950 - 16 + 1, starts.Distinct().Count());
        Assert.Null(source.DistinctSampleCount);
    }

    [Fact]
    public void Eval_walks_consecutive_windows_then_wraps()
    {
        using var folder = new TempFolder();
        folder.Write("doc.txt", string.Concat(Enumerable.Range(0, 2000).Select(i => (char)('a' + i % 26))));
        var corpus = TextCorpus.Load(folder.Root); // eval part: the last 100 tokens
        var source = new TextDataSource(corpus, 0, DataSplit.Eval, 19);
        Assert.Equal(5, source.DistinctSampleCount);
        var batch = source.NextBatch(6);
        for (int b = 0; b < 5; b++)
        {
            var expected = corpus.Tokens.Slice(1900 + 20 * b, 20).ToArray().Select(t => (long)t).ToArray();
            Assert.Equal(expected, batch.Row(b).ToArray());
            Assert.Equal(expected[1..], batch.LabelRow(b).ToArray());
        }
        Assert.Equal(batch.Row(0).ToArray(), batch.Row(5).ToArray());
    }

    [Fact]
    public void Same_seed_gives_the_same_windows_and_other_seeds_differ()
    {
        using var folder = new TempFolder();
        folder.Write("doc.txt", string.Concat(Enumerable.Range(0, 5000).Select(i => (char)('a' + i * 7 % 26))));
        var corpus = TextCorpus.Load(folder.Root);
        var a = new TextDataSource(corpus, 3, DataSplit.Train, 32).NextBatch(8);
        DataTestHelpers.AssertSameBatch(a, new TextDataSource(TextCorpus.Load(folder.Root), 3, DataSplit.Train, 32).NextBatch(8));
        Assert.False(a.Tokens.SequenceEqual(new TextDataSource(corpus, 4, DataSplit.Train, 32).NextBatch(8).Tokens));
        DataTestHelpers.AssertBatchingInvariant(() => new TextDataSource(corpus, 3, DataSplit.Train, 32), 4);
        DataTestHelpers.AssertResumesExactly(() => new TextDataSource(corpus, 3, DataSplit.Train, 32), 3);
        DataTestHelpers.AssertResumesExactly(() => new TextDataSource(corpus, 3, DataSplit.Eval, 32), 2);
    }

    [Fact]
    public void Windows_are_exact_slices_of_the_stream()
    {
        using var folder = new TempFolder();
        folder.Write("x.txt", "The quick brown fox jumps over the lazy dog. " + string.Concat(Enumerable.Repeat("Lorem ipsum dolor sit amet. ", 40)));
        folder.Write("y.txt", "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.");
        var corpus = TextCorpus.Load(folder.Root);
        var source = new TextDataSource(corpus, 9, DataSplit.Train, 40);
        var batch = source.NextBatch(10);
        for (int b = 0; b < 10; b++)
        {
            long start = source.WindowStart(b);
            Assert.Equal(corpus.Tokens.Slice((int)start, 41).ToArray().Select(t => (long)t), batch.Row(b).ToArray());
        }
    }

    [Fact]
    public void State_from_another_corpus_is_refused()
    {
        using var first = new TempFolder();
        using var second = new TempFolder();
        first.Write("a.txt", new string('a', 600));
        second.Write("a.txt", new string('a', 599) + "b");
        var state = new TextDataSource(TextCorpus.Load(first.Root), 0, DataSplit.Train, 8).GetState();
        var other = new TextDataSource(TextCorpus.Load(second.Root), 0, DataSplit.Train, 8);
        var error = Assert.Throws<ArgumentException>(() => other.SetState(state));
        Assert.Contains("configuration", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gpt2_tokenizer_produces_the_published_ids_and_round_trips()
    {
        var gpt2 = TextTokenizers.Create("gpt2");
        Assert.Equal(50257, gpt2.VocabSize);
        Assert.Equal(50256, gpt2.SeparatorToken);
        // Ids as listed for GPT-2's vocabulary: "Hello" 15496, "hello" 31373, " world" 995.
        var ids = new List<int>();
        gpt2.Encode("Hello world"u8, ids);
        Assert.Equal([15496, 995], ids);
        ids.Clear();
        gpt2.Encode("hello world"u8, ids);
        Assert.Equal([31373, 995], ids);

        const string text = "Test-time training: «learn at test time» — 学习 🚀\n";
        ids.Clear();
        gpt2.Encode(Encoding.UTF8.GetBytes(text), ids);
        Assert.Equal(text, gpt2.Decode(ids.Select(i => (long)i).ToArray()));
    }

    [Fact]
    public void Gpt2_corpus_separates_documents_with_end_of_text()
    {
        using var folder = new TempFolder();
        folder.Write("1.txt", "Hello world");
        folder.Write("2.txt", "hello world");
        var corpus = TextCorpus.Load(folder.Root, TextTokenizers.Create("gpt2"));
        Assert.Equal([15496, 995, 50256, 31373, 995], corpus.Tokens.ToArray());
        Assert.Equal("Hello world<|endoftext|>hello world", corpus.Tokenizer.Decode(corpus.Tokens.ToArray().Select(t => (long)t).ToArray()));
    }

    [Fact]
    public void Unknown_tokenizer_is_rejected() =>
        Assert.Throws<ArgumentException>(() => TextTokenizers.Create("sentencepiece"));
}
