using Ttt.Data;
using Xunit;

namespace Ttt.Tests;

public class MarkovCurveTests
{
    private readonly ITestOutputHelper _output;

    public MarkovCurveTests(ITestOutputHelper output) => _output = output;

    /// <summary>ψ(x) by recurrence up to x ≥ 6, then the asymptotic series.</summary>
    private static double Digamma(double x)
    {
        double result = 0;
        while (x < 6)
        {
            result -= 1 / x;
            x += 1;
        }
        double inverse = 1 / x, inverseSquare = inverse * inverse;
        return result + Math.Log(x) - 0.5 * inverse
            - inverseSquare * (1.0 / 12 - inverseSquare * (1.0 / 120 - inverseSquare * (1.0 / 252 - inverseSquare / 240)));
    }

    [Fact]
    public void Default_curve_falls_with_position_and_sits_between_its_baselines()
    {
        // 1024 sequences: a 64-position block mean then has a standard error of about 0.03 nats, well below the
        // drops between the doubling blocks checked below (the smallest, [128, 256) → [256, 512), is ≈ 0.1).
        var curve = MarkovDataSource.BayesOptimalCurve(512, 1024, 1);
        var bayes = curve.BayesOptimal;
        double Mean(IReadOnlyList<double> values, int from, int count) => values.Skip(from).Take(count).Average();
        double early = Mean(bayes, 0, 16), late = Mean(bayes, 512 - 64, 64);
        _output.WriteLine($"V=16 α=0.1: Bayes {bayes[0]:F3} → first16 {early:F3} → last64 {late:F3}; unigram last64 {Mean(curve.InContextUnigram, 448, 64):F3}; known chain {curve.MeanKnownChain:F3}; ln V {curve.Uniform:F3}");
        for (int p = 0; p < 512; p += 64)
            _output.WriteLine($"  [{p},{p + 64}): bayes {Mean(bayes, p, 64):F3}  unigram {Mean(curve.InContextUnigram, p, 64):F3}  known {Mean(curve.KnownChain, p, 64):F3}");

        // Nothing is known before the first transition (the engine's own logarithm agrees with Math.Log to rounding).
        DataTestHelpers.AssertClose(Math.Log(16), bayes[0]);
        DataTestHelpers.AssertClose(Math.Log(16), curve.Uniform);
        // The default prior is chosen so that in-context learning is worth more than a nat by T = 512.
        Assert.True(early - late > 1.0, $"early {early:F3} vs late {late:F3}");
        // Falling on average: each block of doubling length is below the one before.
        double[] blocks = [Mean(bayes, 0, 64), Mean(bayes, 64, 64), Mean(bayes, 128, 128), Mean(bayes, 256, 256)];
        for (int block = 1; block < blocks.Length; block++)
            Assert.True(blocks[block] < blocks[block - 1], $"block means {string.Join(", ", blocks.Select(m => m.ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))} do not fall");
        // Knowing the chain can only help, and the advantage shrinks as the chain is learned.
        Assert.True(curve.MeanKnownChain < curve.MeanBayesOptimal);
        double earlyGap = Mean(bayes, 0, 64) - Mean(curve.KnownChain, 0, 64), lateGap = late - Mean(curve.KnownChain, 448, 64);
        Assert.True(lateGap < earlyGap / 4, $"gap to the known chain: early {earlyGap:F3}, late {lateGap:F3}");
        Assert.True(lateGap > 0);
        // Modelling transitions beats token frequencies once some of the chain has been seen.
        Assert.True(late < Mean(curve.InContextUnigram, 448, 64) - 0.2);
    }

    [Theory]
    [InlineData(16, 0.1)]
    [InlineData(4, 1.0)]
    public void Known_chain_loss_at_the_first_position_is_the_expected_row_entropy(int v, double alpha)
    {
        // x₀ is uniform and independent of the chain, so E[−ln P(x₁|x₀)] is the expected entropy of one
        // Dirichlet(α) row, ψ(Vα + 1) − ψ(α + 1).
        const int sequences = 6000;
        var curve = MarkovDataSource.BayesOptimalCurve(1, sequences, 77, DataSplit.Train,
            new MarkovOptions { AlphabetSize = v, Concentration = alpha });
        double expected = Digamma(v * alpha + 1) - Digamma(alpha + 1);
        // The entropy of a row has standard deviation below 0.6 nats here, so 6000 sequences give a standard
        // error under 0.008; allow about five of them.
        Assert.InRange(curve.KnownChain[0], expected - 0.04, expected + 0.04);
        DataTestHelpers.AssertClose(Math.Log(v), curve.BayesOptimal[0]);
    }

    [Fact]
    public void Curve_is_deterministic_in_its_arguments()
    {
        var a = MarkovDataSource.BayesOptimalCurve(64, 40, 5);
        var b = MarkovDataSource.BayesOptimalCurve(64, 40, 5);
        var c = MarkovDataSource.BayesOptimalCurve(64, 40, 6);
        Assert.Equal(a.BayesOptimal, b.BayesOptimal);
        Assert.Equal(a.InContextUnigram, b.InContextUnigram);
        Assert.Equal(a.KnownChain, b.KnownChain);
        Assert.NotEqual(a.BayesOptimal, c.BayesOptimal);
    }

    [Fact]
    public void Curve_is_the_average_of_the_per_sequence_nll_of_the_eval_stream()
    {
        var curve = MarkovDataSource.BayesOptimalCurve(20, 6, 3);
        var source = new MarkovDataSource(3, DataSplit.Eval, 20);
        var nll = source.BayesOptimalNll(source.NextBatch(6));
        for (int p = 0; p < 20; p++)
        {
            double mean = Enumerable.Range(0, 6).Average(b => nll[b * 20 + p]);
            DataTestHelpers.AssertClose(mean, curve.BayesOptimal[p]);
        }
    }
}
