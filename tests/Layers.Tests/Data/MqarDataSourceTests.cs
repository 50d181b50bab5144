using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Ttt.Data;
using Xunit;

namespace Ttt.Tests;

public class MqarDataSourceTests
{
    /// <summary>
    /// Checks one sample against the task's definition, reading it the way a reader of the paper would: the first
    /// 2P tokens are the key-value context; every scored position must hold a key from that context and its label
    /// must be the value shown with that key; unscored positions are filler or context.
    /// </summary>
    private static void AssertSampleIsValid(ReadOnlySpan<long> tokens, ReadOnlySpan<long> labels, int vocab, int pairs, int queries)
    {
        int half = vocab / 2;
        var valueOfKey = new Dictionary<long, long>();
        for (int i = 0; i < pairs; i++)
        {
            long key = tokens[2 * i], value = tokens[2 * i + 1];
            Assert.InRange(key, 1, half - 1);
            Assert.InRange(value, half, vocab - 1);
            Assert.True(valueOfKey.TryAdd(key, value), $"key {key} appears twice in the context");
        }
        Assert.Equal(pairs, valueOfKey.Values.Distinct().Count()); // values are distinct too
        for (int p = 0; p < 2 * pairs; p++) Assert.Equal(TokenBatch.IgnoreIndex, labels[p]);

        var queried = new HashSet<long>();
        for (int p = 2 * pairs; p < labels.Length; p++)
        {
            if (labels[p] == TokenBatch.IgnoreIndex)
            {
                // Unscored query-region tokens are filler, or the value right after a query key.
                bool followsQuery = p > 2 * pairs && labels[p - 1] != TokenBatch.IgnoreIndex;
                if (!followsQuery) Assert.Equal(MqarDataSource.FillerToken, tokens[p]);
                continue;
            }
            Assert.Equal(0, (p - 2 * pairs) % 2); // queries start on slot boundaries
            long key = tokens[p];
            Assert.True(valueOfKey.TryGetValue(key, out long value), $"query key {key} at {p} was never shown");
            Assert.Equal(value, labels[p]);
            Assert.Equal(value, tokens[p + 1]);
            Assert.True(queried.Add(key), $"key {key} is queried twice");
        }
        Assert.Equal(queries, queried.Count);
        if ((tokens.Length - 2 * pairs) % 2 == 1) Assert.Equal(MqarDataSource.FillerToken, tokens[^1]);
    }

    [Fact]
    public void Every_query_label_is_the_value_paired_with_its_key_and_only_queries_are_scored()
    {
        var source = new MqarDataSource(1, DataSplit.Train, 255);
        var batch = source.NextBatch(16);
        Assert.Equal(8192, source.VocabSize);
        for (int b = 0; b < 16; b++) AssertSampleIsValid(batch.Row(b), batch.LabelRow(b), 8192, 16, 16);
        Assert.Equal(16 * 16, batch.ScoredCount);
        var mask = batch.LossMaskTensor().ToFloatArray();
        Assert.Equal(16 * 16, mask.Sum());
        for (int i = 0; i < mask.Length; i++) Assert.Equal(batch.Labels[i] != TokenBatch.IgnoreIndex, mask[i] == 1f);
    }

    [Property(MaxTest = 80)]
    public Property Samples_are_valid_for_any_admissible_configuration() =>
        Prop.ForAll(
            (from vocab in Gen.Choose(4, 80)
             from pairs in Gen.Choose(1, vocab / 2 - 1)
             from queries in Gen.Choose(1, pairs)
             from extra in Gen.Choose(0, 12)
             from seed in Gen.Choose(0, int.MaxValue)
             select (vocab, pairs, queries, t: 2 * pairs + 2 * queries - 1 + extra, seed: (ulong)seed)).ToArbitrary(),
            c =>
            {
                var options = new MqarOptions { VocabSize = c.vocab, PairCount = c.pairs, QueryCount = c.queries };
                var batch = new MqarDataSource(c.seed, DataSplit.Eval, c.t, options).NextBatch(3);
                for (int b = 0; b < 3; b++) AssertSampleIsValid(batch.Row(b), batch.LabelRow(b), c.vocab, c.pairs, c.queries);
            });

    [Fact]
    public void Query_slots_and_queried_keys_vary_between_samples()
    {
        // Guards against a sampler that always queries the same pairs in the same places (a model could then
        // learn positions instead of recall).
        var batch = new MqarDataSource(2, DataSplit.Train, 99, new MqarOptions { VocabSize = 64, PairCount = 8, QueryCount = 4 }).NextBatch(50);
        var patterns = new HashSet<string>();
        var firstQueriedPair = new HashSet<int>();
        for (int b = 0; b < 50; b++)
        {
            var labels = batch.LabelRow(b).ToArray();
            var row = batch.Row(b).ToArray();
            var scored = Enumerable.Range(0, labels.Length).Where(p => labels[p] != TokenBatch.IgnoreIndex).ToArray();
            patterns.Add(string.Join(",", scored));
            int contextIndex = Enumerable.Range(0, 8).First(i => row[2 * i] == row[scored[0]]);
            firstQueriedPair.Add(contextIndex);
        }
        Assert.True(patterns.Count > 40, $"only {patterns.Count} distinct query layouts in 50 samples");
        Assert.True(firstQueriedPair.Count > 4, "the first query always asks about the same few pairs");
    }

    [Fact]
    public void Accuracy_counts_only_query_positions()
    {
        var batch = new MqarDataSource(3, DataSplit.Train, 80, new MqarOptions { VocabSize = 100, PairCount = 10, QueryCount = 5 }).NextBatch(4);
        // Predicting the true next token everywhere is perfect; predicting 0 everywhere gets no query right, even
        // though 0 is the right "next token" at many unscored filler positions.
        var nextTokens = new long[4 * 80];
        for (int b = 0; b < 4; b++) batch.Row(b)[1..].CopyTo(nextTokens.AsSpan(b * 80, 80));
        Assert.Equal((20L, 20L), batch.CountCorrect(nextTokens));
        Assert.Equal((0L, 20L), batch.CountCorrect(new long[4 * 80]));
        var oneWrong = batch.Labels.ToArray();
        int firstQuery = Array.FindIndex(oneWrong, l => l != TokenBatch.IgnoreIndex);
        oneWrong[firstQuery] = 0;
        for (int i = 0; i < oneWrong.Length; i++) if (oneWrong[i] == TokenBatch.IgnoreIndex) oneWrong[i] = 0;
        Assert.Equal((19L, 20L), batch.CountCorrect(oneWrong));
    }

    [Fact]
    public void Same_seed_gives_the_same_stream_and_other_seeds_differ()
    {
        var a = new MqarDataSource(5, DataSplit.Train, 63).NextBatch(4);
        DataTestHelpers.AssertSameBatch(a, new MqarDataSource(5, DataSplit.Train, 63).NextBatch(4));
        Assert.False(a.Tokens.SequenceEqual(new MqarDataSource(6, DataSplit.Train, 63).NextBatch(4).Tokens));
    }

    [Fact]
    public void Stream_does_not_depend_on_batch_size() =>
        DataTestHelpers.AssertBatchingInvariant(() => new MqarDataSource(5, DataSplit.Eval, 70), 5);

    [Fact]
    public void Resumes_bit_for_bit_from_a_json_state() =>
        DataTestHelpers.AssertResumesExactly(() => new MqarDataSource(8, DataSplit.Train, 64), 3);

    [Fact]
    public void Train_and_eval_streams_share_no_sequence()
    {
        var train = DataTestHelpers.Rows(new MqarDataSource(9, DataSplit.Train, 63).NextBatch(300));
        var eval = DataTestHelpers.Rows(new MqarDataSource(9, DataSplit.Eval, 63).NextBatch(300));
        var trainSet = new HashSet<long[]>(train, DataTestHelpers.RowComparer.Instance);
        Assert.DoesNotContain(eval, trainSet.Contains);
        // Sixteen distinct keys out of 4095 per sample: even sharing a whole key set would point to a shared stream.
        var trainKeySets = new HashSet<string>(train.Select(r => string.Join(",", Enumerable.Range(0, 16).Select(i => r[2 * i]))));
        Assert.DoesNotContain(eval, r => trainKeySets.Contains(string.Join(",", Enumerable.Range(0, 16).Select(i => r[2 * i]))));
    }

    [Theory]
    [InlineData(3, 1, null, 10)]     // vocabulary too small
    [InlineData(16, 8, null, 40)]    // keys come from [1, 8): only 7 distinct keys
    [InlineData(64, 0, null, 40)]    // no pairs
    [InlineData(64, 4, 5, 40)]       // more queries than pairs
    [InlineData(64, 4, 0, 40)]       // no queries
    [InlineData(64, 8, 8, 30)]       // 32 tokens needed, T + 1 = 31
    public void Invalid_configurations_are_rejected(int vocab, int pairs, int? queries, int t) =>
        Assert.Throws<ArgumentException>(() =>
            new MqarDataSource(0, DataSplit.Train, t, new MqarOptions { VocabSize = vocab, PairCount = pairs, QueryCount = queries }));

    [Fact]
    public void Smallest_admissible_sequence_fits_exactly()
    {
        // 8 pairs and 8 queries need 32 tokens: T = 31 works and fills every slot with a query.
        var source = new MqarDataSource(0, DataSplit.Train, 31, new MqarOptions { VocabSize = 64, PairCount = 8 });
        Assert.Equal(8, source.QuerySlotCount);
        var batch = source.NextBatch(2);
        for (int b = 0; b < 2; b++) AssertSampleIsValid(batch.Row(b), batch.LabelRow(b), 64, 8, 8);
        Assert.DoesNotContain(MqarDataSource.FillerToken, batch.Tokens.ToArray());
    }
}
