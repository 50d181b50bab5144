using System.Diagnostics;
using Ttt.Data;
using Xunit;

namespace Ttt.Tests;

public class MarkovDataSourceTests
{
    private readonly ITestOutputHelper _output;

    public MarkovDataSourceTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void Batches_have_the_declared_shape_tokens_in_the_alphabet_and_labels_shifted_by_one()
    {
        var source = new MarkovDataSource(3, DataSplit.Train, 50, new MarkovOptions { AlphabetSize = 7 });
        var batch = source.NextBatch(4);
        Assert.Equal(7, source.VocabSize);
        Assert.Equal(4 * 51, batch.Tokens.Length);
        Assert.Equal(4 * 50, batch.Labels.Length);
        Assert.All(batch.Tokens.ToArray(), t => Assert.InRange(t, 0, 6));
        for (int b = 0; b < 4; b++) Assert.True(batch.Row(b)[1..].SequenceEqual(batch.LabelRow(b)));
        Assert.Equal(4 * 50, batch.ScoredCount);
        Assert.Equal([4, 50], batch.InputsTensor().ShapeArray());
        Assert.Equal(batch.Row(2)[..50].ToArray(), batch.InputsTensor().ToLongArray().AsSpan(100, 50).ToArray());
    }

    [Fact]
    public void Same_seed_gives_the_same_stream_and_other_seeds_differ()
    {
        var a = new MarkovDataSource(11, DataSplit.Train, 64).NextBatch(3);
        var b = new MarkovDataSource(11, DataSplit.Train, 64).NextBatch(3);
        var c = new MarkovDataSource(12, DataSplit.Train, 64).NextBatch(3);
        DataTestHelpers.AssertSameBatch(a, b);
        Assert.False(a.Tokens.SequenceEqual(c.Tokens));
    }

    [Fact]
    public void Stream_does_not_depend_on_batch_size() =>
        DataTestHelpers.AssertBatchingInvariant(() => new MarkovDataSource(5, DataSplit.Train, 40), 3);

    [Fact]
    public void Resumes_bit_for_bit_from_a_json_state() =>
        DataTestHelpers.AssertResumesExactly(() => new MarkovDataSource(7, DataSplit.Eval, 33), 4);

    [Fact]
    public void Restoring_a_state_from_another_configuration_is_refused()
    {
        var state = new MarkovDataSource(7, DataSplit.Train, 33).GetState();
        Assert.Throws<ArgumentException>(() => new MarkovDataSource(7, DataSplit.Train, 34).SetState(state));
        Assert.Throws<ArgumentException>(() => new MarkovDataSource(8, DataSplit.Train, 33).SetState(state));
        Assert.Throws<ArgumentException>(() => new MarkovDataSource(7, DataSplit.Eval, 33).SetState(state));
        Assert.Throws<ArgumentException>(() =>
            new MarkovDataSource(7, DataSplit.Train, 33, new MarkovOptions { Concentration = 0.2 }).SetState(state));
        Assert.Throws<ArgumentException>(() => new MqarDataSource(7, DataSplit.Train, 33).SetState(state));
    }

    [Fact]
    public void Train_and_eval_streams_share_no_sequence()
    {
        // Independent dense chains (α = 1, V = 8: a row's expected entropy is ψ(9) − ψ(2) ≈ 1.7 nats) essentially
        // never emit the same 33 tokens, whereas a train sample sharing a generator with an eval sample would repeat it exactly.
        // (Sparse default chains would not do here: a near-deterministic chain can emit a constant sequence.)
        var options = new MarkovOptions { AlphabetSize = 8, Concentration = 1.0 };
        var train = DataTestHelpers.Rows(new MarkovDataSource(9, DataSplit.Train, 32, options).NextBatch(500));
        var eval = DataTestHelpers.Rows(new MarkovDataSource(9, DataSplit.Eval, 32, options).NextBatch(500));
        var trainSet = new HashSet<long[]>(train, DataTestHelpers.RowComparer.Instance);
        Assert.DoesNotContain(eval, trainSet.Contains);
    }

    [Fact]
    public void Transition_matrices_are_stochastic_and_match_the_Dirichlet_moments()
    {
        // For a symmetric Dirichlet(α) row over V symbols: E[p] = 1/V and E[p²] = (α + 1) / (V (Vα + 1)).
        const int v = 5;
        const double alpha = 0.3;
        const int sequences = 4000;
        var source = new MarkovDataSource(21, DataSplit.Train, 1, new MarkovOptions { AlphabetSize = v, Concentration = alpha });
        double sum = 0, sumSquares = 0;
        for (long n = 0; n < sequences; n++)
        {
            var matrix = source.TransitionMatrix(n);
            for (int i = 0; i < v; i++)
            {
                double rowSum = 0;
                for (int j = 0; j < v; j++)
                {
                    double p = matrix[i * v + j];
                    Assert.True(p >= 0, "negative transition probability");
                    rowSum += p;
                    sum += p;
                    sumSquares += p * p;
                }
                DataTestHelpers.AssertClose(1.0, rowSum);
            }
        }
        double entries = sequences * v * v;
        double expectedSquare = (alpha + 1) / (v * (v * alpha + 1));
        DataTestHelpers.AssertClose(1.0 / v, sum / entries, atol: 1e-9); // every row sums to 1; only rounding remains
        // E[p²] estimated from 100,000 entries; p² has standard deviation below 0.3, so the standard error of the
        // mean is under 0.001 (entries of a row are dependent, but only V = 5 at a time).
        Assert.InRange(sumSquares / entries, expectedSquare - 0.005, expectedSquare + 0.005);
    }

    [Fact]
    public void Long_sequences_follow_their_transition_matrix()
    {
        // α = 1 keeps every transition likely enough to be visited; the empirical frequency of i→j among visits
        // to i must match P[i, j] within a few binomial standard errors.
        const int v = 4, length = 60_000;
        var source = new MarkovDataSource(31, DataSplit.Eval, length, new MarkovOptions { AlphabetSize = v, Concentration = 1.0 });
        var tokens = source.NextBatch(1).Row(0);
        var matrix = source.TransitionMatrix(0);
        var counts = new long[v * v];
        var visits = new long[v];
        for (int t = 0; t < length; t++)
        {
            counts[tokens[t] * v + tokens[t + 1]]++;
            visits[tokens[t]]++;
        }
        for (int i = 0; i < v; i++)
        {
            if (visits[i] < 2000) continue; // a rarely visited state gives too little evidence
            for (int j = 0; j < v; j++)
            {
                double p = matrix[i * v + j], observed = (double)counts[i * v + j] / visits[i];
                double standardError = Math.Sqrt(p * (1 - p) / visits[i]);
                Assert.True(Math.Abs(observed - p) <= 5 * standardError + 1e-12,
                    $"P[{i},{j}] = {p:F4} but observed {observed:F4} over {visits[i]} visits");
                if (p == 0) Assert.Equal(0, counts[i * v + j]);
            }
        }
        Assert.Contains(visits, n => n >= 2000);
    }

    [Fact]
    public void First_state_is_uniform()
    {
        const int v = 8, sequences = 8000;
        var batch = new MarkovDataSource(41, DataSplit.Train, 1, new MarkovOptions { AlphabetSize = v }).NextBatch(sequences);
        var counts = new double[v];
        for (int b = 0; b < sequences; b++) counts[batch.Row(b)[0]]++;
        double expected = (double)sequences / v, chiSquare = counts.Sum(c => (c - expected) * (c - expected) / expected);
        // χ² with 7 degrees of freedom: P(χ² > 24.3) ≈ 0.001.
        Assert.True(chiSquare < 24.3, $"χ² = {chiSquare:F2}");
    }

    [Fact]
    public void Very_small_concentration_still_yields_valid_chains()
    {
        // With α = 10⁻⁴ a Gamma(α) draw, Gamma(1 + α)·U^(1/α), underflows to exactly 0 whenever U < e^(−745α) ≈ 0.93,
        // so most rows come out all zero and take the one-hot fallback; rows must stay stochastic and every
        // sampled transition must have positive probability.
        var source = new MarkovDataSource(2, DataSplit.Train, 200, new MarkovOptions { AlphabetSize = 6, Concentration = 1e-4 });
        var batch = source.NextBatch(20);
        Assert.All(batch.Tokens.ToArray(), t => Assert.InRange(t, 0, 5));
        for (long n = 0; n < 20; n++)
        {
            var matrix = source.TransitionMatrix(n);
            for (int i = 0; i < 6; i++) DataTestHelpers.AssertClose(1.0, matrix.AsSpan(i * 6, 6).ToArray().Sum());
            // every observed transition has positive probability under the chain
            var row = batch.Row((int)n);
            for (int t = 0; t < 200; t++) Assert.True(matrix[row[t] * 6 + row[t + 1]] > 0);
        }
    }

    [Theory]
    [InlineData(1, 0.1)]
    [InlineData(16, 0)]
    [InlineData(16, -1)]
    [InlineData(16, double.NaN)]
    [InlineData(16, double.PositiveInfinity)]
    public void Invalid_options_are_rejected(int alphabetSize, double concentration) =>
        Assert.Throws<ArgumentException>(() =>
            new MarkovDataSource(0, DataSplit.Train, 8, new MarkovOptions { AlphabetSize = alphabetSize, Concentration = concentration }));

    [Fact]
    public void Generating_8_by_2048_tokens_takes_well_under_50_ms()
    {
        var source = new MarkovDataSource(1, DataSplit.Train, 2048);
        source.NextBatch(8); // warm up the JIT
        double best = double.MaxValue;
        for (int repeat = 0; repeat < 5; repeat++)
        {
            var clock = Stopwatch.StartNew();
            source.NextBatch(8);
            best = Math.Min(best, clock.Elapsed.TotalMilliseconds);
        }
        _output.WriteLine($"markov 8×2049 tokens, V=16, α=0.1: best of 5 = {best:F2} ms");
        Assert.True(best < 50, $"batch took {best:F1} ms");
    }
}
