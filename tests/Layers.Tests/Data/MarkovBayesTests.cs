using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Ttt.Data;
using Xunit;

namespace Ttt.Tests;

public class MarkovBayesTests
{
    /// <summary>
    /// Brute force for V = 2: the predictive probability that the next token is 1 is the ratio of two integrals over
    /// both rows' parameters (θ₀ = P(0→1), θ₁ = P(1→1)) with Beta(α, α) priors:
    /// ∫∫ θ_{x_t} L(θ) π(θ) dθ / ∫∫ L(θ) π(θ) dθ, L the likelihood of the observed transitions. Each axis uses
    /// θ = sin²φ (which absorbs the prior's endpoint singularities for α ≥ 1/2) and Simpson's rule.
    /// </summary>
    private static double BruteForcePredictiveOfOne(long[] prefix, double alpha)
    {
        const int intervals = 400;
        double h = Math.PI / 2 / intervals;
        var theta = new double[intervals + 1];
        var weight = new double[intervals + 1];
        for (int k = 0; k <= intervals; k++)
        {
            double phi = k * h, s = Math.Sin(phi), c = Math.Cos(phi);
            theta[k] = s * s;
            // prior density (unnormalised) times dθ/dφ: θ^(α−1)(1−θ)^(α−1) · 2 sinφ cosφ = 2 sin^(2α−1) cos^(2α−1)
            double simpson = k == 0 || k == intervals ? 1 : k % 2 == 1 ? 4 : 2;
            weight[k] = simpson * h / 3 * 2 * Math.Pow(s, 2 * alpha - 1) * Math.Pow(c, 2 * alpha - 1);
        }
        double numerator = 0, denominator = 0;
        long last = prefix[^1];
        for (int a = 0; a <= intervals; a++)
            for (int b = 0; b <= intervals; b++)
            {
                double[] rowOne = [theta[a], theta[b]]; // P(i → 1) for i = 0, 1
                double likelihood = 1;
                for (int t = 0; t + 1 < prefix.Length; t++)
                    likelihood *= prefix[t + 1] == 1 ? rowOne[prefix[t]] : 1 - rowOne[prefix[t]];
                double w = weight[a] * weight[b] * likelihood;
                denominator += w;
                numerator += w * rowOne[last];
            }
        return numerator / denominator;
    }

    [Theory]
    [InlineData(new long[] { 0 }, 0.5)]
    [InlineData(new long[] { 1, 1, 1, 0 }, 0.5)]
    [InlineData(new long[] { 0, 1, 1, 0, 0, 0, 1 }, 1.5)]
    [InlineData(new long[] { 1, 0, 1, 0, 1, 1, 1, 1, 0 }, 1.0)]
    [InlineData(new long[] { 0, 0, 0, 0, 0, 1, 0, 0 }, 3.0)]
    public void Posterior_predictive_matches_brute_force_integration_on_two_symbols(long[] prefix, double alpha)
    {
        var predictive = MarkovBayes.PosteriorPredictive(prefix, 2, alpha);
        double expected = BruteForcePredictiveOfOne(prefix, alpha);
        DataTestHelpers.AssertClose(expected, predictive[1], atol: 1e-7, rtol: 0); // quadrature error is far smaller
        DataTestHelpers.AssertClose(1 - expected, predictive[0], atol: 1e-7, rtol: 0);
    }

    /// <summary>α^(n) = α(α+1)…(α+n−1), so Γ(α+n)/Γ(α) without a Gamma function.</summary>
    private static double RisingFactorial(double a, long n)
    {
        double product = 1;
        for (long k = 0; k < n; k++) product *= a + k;
        return product;
    }

    [Property(MaxTest = 60)]
    public Property Sequence_probability_equals_the_Dirichlet_multinomial_evidence() =>
        Prop.ForAll(
            (from v in Gen.Choose(2, 5)
             from alpha in Gen.Elements(0.05, 0.1, 0.5, 1.0, 2.5)
             from length in Gen.Choose(2, 30)
             from seq in Gen.ArrayOf(Gen.Choose(0, v - 1), length)
             select (v, alpha, seq.Select(x => (long)x).ToArray())).ToArbitrary(),
            c =>
            {
                var (v, alpha, sequence) = c;
                // p(x₁…x_T | x₀) = Π_i [Π_j α^(n_ij)] / (Vα)^(n_i) for independent Dirichlet(α) rows.
                var counts = new long[v, v];
                for (int t = 0; t + 1 < sequence.Length; t++) counts[sequence[t], sequence[t + 1]]++;
                double evidence = 1;
                for (int i = 0; i < v; i++)
                {
                    long rowTotal = 0;
                    for (int j = 0; j < v; j++)
                    {
                        evidence *= RisingFactorial(alpha, counts[i, j]);
                        rowTotal += counts[i, j];
                    }
                    evidence /= RisingFactorial(v * alpha, rowTotal);
                }
                double logProduct = -MarkovBayes.SequenceNll(sequence, v, alpha).Sum();
                DataTestHelpers.AssertClose(Math.Log(evidence), logProduct, atol: 1e-10, rtol: 1e-12); // sums of up to 30 logs
            });

    [Property(MaxTest = 100)]
    public Property Predictive_distributions_sum_to_one_and_agree_with_the_sequence_nll() =>
        Prop.ForAll(
            (from v in Gen.Choose(2, 20)
             from alpha in Gen.Elements(0.01, 0.1, 0.7, 4.0)
             from length in Gen.Choose(2, 40)
             from seq in Gen.ArrayOf(Gen.Choose(0, v - 1), length)
             select (v, alpha, seq.Select(x => (long)x).ToArray())).ToArbitrary(),
            c =>
            {
                var (v, alpha, sequence) = c;
                var nll = MarkovBayes.SequenceNll(sequence, v, alpha);
                var unigramNll = MarkovBayes.SequenceUnigramNll(sequence, v, alpha);
                for (int t = 0; t + 1 < sequence.Length; t++)
                {
                    var prefix = sequence.AsSpan(0, t + 1);
                    var bayes = MarkovBayes.PosteriorPredictive(prefix, v, alpha);
                    var unigram = MarkovBayes.InContextUnigramPredictive(prefix, v, alpha);
                    DataTestHelpers.AssertClose(1.0, bayes.Sum());
                    DataTestHelpers.AssertClose(1.0, unigram.Sum());
                    Assert.All(bayes, p => Assert.True(p > 0));
                    DataTestHelpers.AssertClose(-Math.Log(bayes[sequence[t + 1]]), nll[t]);
                    DataTestHelpers.AssertClose(-Math.Log(unigram[sequence[t + 1]]), unigramNll[t]);
                }
                DataTestHelpers.AssertClose(Math.Log(v), nll[0]);
            });

    [Fact]
    public void Predictive_follows_the_counts_of_the_current_state_only()
    {
        // prefix 0 1 0 1 1 0: transitions out of 0 are 0→1 twice; out of 1 are 1→0 twice and 1→1 once.
        long[] prefix = [0, 1, 0, 1, 1, 0];
        var afterZero = MarkovBayes.PosteriorPredictive(prefix, 3, 0.5);
        Assert.Equal([0.5 / 3.5, 2.5 / 3.5, 0.5 / 3.5], afterZero, (a, b) => Math.Abs(a - b) < 1e-15);
        var afterOne = MarkovBayes.PosteriorPredictive(prefix[..5], 3, 0.5);
        Assert.Equal([1.5 / 3.5, 1.5 / 3.5, 0.5 / 3.5], afterOne, (a, b) => Math.Abs(a - b) < 1e-15);
        var unigram = MarkovBayes.InContextUnigramPredictive(prefix, 3, 0.5);
        Assert.Equal([3.5 / 7.5, 3.5 / 7.5, 0.5 / 7.5], unigram, (a, b) => Math.Abs(a - b) < 1e-15);
    }

    [Fact]
    public void Batch_nll_scores_each_row_as_its_own_chain_and_marks_ignored_labels()
    {
        var source = new MarkovDataSource(4, DataSplit.Train, 30, new MarkovOptions { AlphabetSize = 5 });
        var batch = source.NextBatch(3);
        var nll = source.BayesOptimalNll(batch);
        for (int b = 0; b < 3; b++)
            Assert.Equal(MarkovBayes.SequenceNll(batch.Row(b), 5, 0.1), nll.AsSpan(b * 30, 30).ToArray());

        var labels = batch.Labels.ToArray();
        labels[7] = TokenBatch.IgnoreIndex;
        var masked = new TokenBatch(batch.Tokens.ToArray(), labels, 3, 30);
        var maskedNll = MarkovBayes.BatchNll(masked, 5, 0.1);
        Assert.True(double.IsNaN(maskedNll[7]));
        Assert.Equal(nll[8], maskedNll[8]);
    }

    [Fact]
    public void Tokens_outside_the_alphabet_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => MarkovBayes.SequenceNll([0, 1, 4], 4, 0.1));
        Assert.Throws<ArgumentException>(() => MarkovBayes.PosteriorPredictive([-1], 4, 0.1));
        Assert.Throws<ArgumentException>(() => MarkovBayes.SequenceNll([0], 4, 0.1));
    }
}
