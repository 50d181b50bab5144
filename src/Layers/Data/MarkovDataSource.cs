using System.Globalization;

namespace Ttt.Data;

/// <summary>
/// The <c>markov</c> task (default): every sequence has its own random first-order Markov chain over V symbols.
/// Sample n draws, from its own generator (see <see cref="SampleSeeds"/>), the V×V transition weights row by row
/// (each row Dirichlet(α), as V Gamma(α) draws), then x₀ uniform over [0, V), then x₁…x_T from the chain. Because
/// the chain is new in every sequence, the only way to predict well is to infer it from the sequence so far: the
/// Bayes-optimal loss (<see cref="MarkovBayes"/>) falls with position, and a model's loss-by-position curve shows
/// how much of that in-context learning it achieves.
/// </summary>
public sealed class MarkovDataSource : SampleDataSource
{
    private readonly int _alphabetSize;
    private readonly double _concentration;

    /// <summary>Creates the markov stream of <paramref name="split"/> for <paramref name="seed"/>, T = <paramref name="sequenceLength"/>.</summary>
    public MarkovDataSource(ulong seed, DataSplit split, int sequenceLength, MarkovOptions? options = null)
        : base(seed, split, sequenceLength)
    {
        Options = options ?? new MarkovOptions();
        Options.Validate();
        _alphabetSize = Options.AlphabetSize;
        _concentration = Options.Concentration;
    }

    /// <summary>The task name, "markov".</summary>
    public const string TaskName = "markov";

    /// <summary>Alphabet size and Dirichlet concentration.</summary>
    public MarkovOptions Options { get; }

    /// <inheritdoc />
    public override string Name => TaskName;

    /// <inheritdoc />
    public override int VocabSize => _alphabetSize;

    /// <inheritdoc />
    public override string Configuration => string.Create(CultureInfo.InvariantCulture, $"{Options.Describe()} T={SequenceLength}");

    /// <summary>
    /// The transition matrix [V, V] (rows sum to 1) that generated sample <paramref name="sampleIndex"/> of this
    /// split. Only for analysis: a model never sees it.
    /// </summary>
    public double[] TransitionMatrix(long sampleIndex)
    {
        int v = _alphabetSize;
        var cumulative = new double[v * v];
        SampleChain(SampleSeeds.GeneratorFor(Seed, Split, sampleIndex), cumulative);
        var matrix = new double[v * v];
        for (int i = 0; i < v; i++)
        {
            var row = cumulative.AsSpan(i * v, v);
            double total = row[^1];
            for (int j = 0; j < v; j++) matrix[i * v + j] = (row[j] - (j > 0 ? row[j - 1] : 0)) / total;
        }
        return matrix;
    }

    /// <summary>Bayes-optimal NLLs (nats) of a batch from this source, [B, T]; see <see cref="MarkovBayes.BatchNll"/>.</summary>
    public double[] BayesOptimalNll(TokenBatch batch) => MarkovBayes.BatchNll(batch, _alphabetSize, _concentration);

    /// <summary>
    /// The expected loss by position, averaged over samples 0 … <paramref name="sequences"/>−1 of the
    /// <paramref name="split"/> stream of <paramref name="seed"/> with T = <paramref name="sequenceLength"/>: the
    /// Bayes-optimal curve, the in-context unigram curve, the loss of a predictor that knows each sequence's chain,
    /// and the uniform baseline ln V. Deterministic in its arguments.
    /// </summary>
    public static MarkovLossCurve BayesOptimalCurve(int sequenceLength, int sequences, ulong seed,
        DataSplit split = DataSplit.Eval, MarkovOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sequences);
        var source = new MarkovDataSource(seed, split, sequenceLength, options);
        int v = source._alphabetSize, t = sequenceLength;
        double alpha = source._concentration;
        var bayesSum = new double[t];
        var bayesSquares = new double[t];
        var unigramSum = new double[t];
        var knownSum = new double[t];
        var tokens = new long[t + 1];
        var labels = new long[t];
        var cumulative = new double[v * v];
        var nll = new double[t];
        var transitionCounts = new long[v * v];
        var rowTotals = new long[v];
        for (long n = 0; n < sequences; n++)
        {
            source.WriteSample(n, tokens, labels, cumulative);
            MarkovBayes.WriteSequenceNll(tokens, v, alpha, nll, transitionCounts, rowTotals);
            for (int p = 0; p < t; p++)
            {
                bayesSum[p] += nll[p];
                bayesSquares[p] += nll[p] * nll[p];
            }
            MarkovBayes.WriteSequenceUnigramNll(tokens, v, alpha, nll, rowTotals);
            for (int p = 0; p < t; p++) unigramSum[p] += nll[p];
            for (int p = 0; p < t; p++)
            {
                // −ln P(x_{p+1} | x_p) under the true chain, from the cumulative weights of row x_p.
                var row = cumulative.AsSpan((int)tokens[p] * v, v);
                int next = (int)tokens[p + 1];
                double weight = row[next] - (next > 0 ? row[next - 1] : 0);
                knownSum[p] -= DeterministicMath.Log(weight / row[^1]);
            }
        }
        var bayes = new double[t];
        var standardError = new double[t];
        var unigram = new double[t];
        var known = new double[t];
        for (int p = 0; p < t; p++)
        {
            bayes[p] = bayesSum[p] / sequences;
            unigram[p] = unigramSum[p] / sequences;
            known[p] = knownSum[p] / sequences;
            double variance = sequences > 1 ? Math.Max(0, (bayesSquares[p] - sequences * bayes[p] * bayes[p]) / (sequences - 1)) : 0;
            standardError[p] = Math.Sqrt(variance / sequences);
        }
        return new MarkovLossCurve(sequences, DeterministicMath.Log(v), bayes, standardError, unigram, known);
    }

    /// <inheritdoc />
    protected override void WriteSample(long index, Span<long> tokens, Span<long> labels) =>
        WriteSample(index, tokens, labels, new double[_alphabetSize * _alphabetSize]);

    /// <summary>Writes sample <paramref name="index"/>, leaving its chain's cumulative row weights in <paramref name="cumulative"/> [V, V].</summary>
    private void WriteSample(long index, Span<long> tokens, Span<long> labels, Span<double> cumulative)
    {
        int v = _alphabetSize;
        var generator = SampleSeeds.GeneratorFor(Seed, Split, index);
        SampleChain(generator, cumulative);
        long state = generator.NextInt64(v);
        tokens[0] = state;
        for (int p = 1; p < tokens.Length; p++)
        {
            state = DrawFromRow(cumulative.Slice((int)state * v, v), generator.NextDouble());
            tokens[p] = state;
        }
        tokens[1..].CopyTo(labels);
    }

    /// <summary>
    /// Draws the chain's rows: row i's weights are V independent Gamma(α) draws (their normalisation is a
    /// Dirichlet(α) draw), stored as running sums [V, V] so a step is a binary search. For very small α every Gamma
    /// draw of a row can underflow to 0; such a row becomes one-hot on a uniform successor, the α → 0 limit.
    /// </summary>
    private void SampleChain(Generator generator, Span<double> cumulative)
    {
        int v = _alphabetSize;
        for (int i = 0; i < v; i++)
        {
            var row = cumulative.Slice(i * v, v);
            double total = 0;
            for (int j = 0; j < v; j++)
            {
                total += generator.NextGamma(_concentration);
                row[j] = total;
            }
            if (total > 0) continue;
            long successor = generator.NextInt64(v);
            for (int j = 0; j < v; j++) row[j] = j >= successor ? 1 : 0;
        }
    }

    /// <summary>
    /// The successor drawn by uniform <paramref name="u"/> ∈ [0, 1) from a row of cumulative weights [V]: the first
    /// j with u·total &lt; cumulative[j], so zero-weight successors are never drawn. If rounding makes u·total reach
    /// the total, the last successor with positive weight is taken.
    /// </summary>
    private static int DrawFromRow(ReadOnlySpan<double> cumulative, double u)
    {
        double target = u * cumulative[^1];
        int low = 0, high = cumulative.Length - 1;
        if (!(target < cumulative[high]))
        {
            while (high > 0 && cumulative[high - 1] == cumulative[high]) high--;
            return high;
        }
        while (low < high)
        {
            int middle = (low + high) >> 1;
            if (target < cumulative[middle]) high = middle;
            else low = middle + 1;
        }
        return low;
    }
}
