namespace Ttt.Data;

/// <summary>
/// Exact Bayesian predictors for the <c>markov</c> task. Rows of the transition matrix are independent
/// Dirichlet(α) draws and the first state is uniform, so after a prefix x₀…x_t the posterior of row i is
/// Dirichlet(α + n_i·) where n_ij counts the transitions i→j seen so far, and the posterior predictive is
/// <c>p(x_{t+1} = j | x_≤t) = (n_ij + α) / (n_i + Vα)</c> with i = x_t. No predictor can have lower expected
/// next-token loss on this task, which makes it the floor a trained model is compared to. Logarithms use
/// <see cref="DeterministicMath.Log"/> so the numbers are identical on every machine.
/// </summary>
public static class MarkovBayes
{
    /// <summary>
    /// The posterior predictive distribution [V] of the token after <paramref name="prefix"/> (length ≥ 1).
    /// </summary>
    public static double[] PosteriorPredictive(ReadOnlySpan<long> prefix, int alphabetSize, double concentration)
    {
        Validate(alphabetSize, concentration);
        if (prefix.IsEmpty) throw new ArgumentException("the prefix must hold at least the first state", nameof(prefix));
        long current = CheckToken(prefix[^1], alphabetSize);
        // n_current,j: transitions out of the current state seen in the prefix.
        var counts = new long[alphabetSize];
        long total = 0;
        for (int s = 0; s + 1 < prefix.Length; s++)
        {
            long from = CheckToken(prefix[s], alphabetSize), to = CheckToken(prefix[s + 1], alphabetSize);
            if (from != current) continue;
            counts[to]++;
            total++;
        }
        var probabilities = new double[alphabetSize];
        double denominator = total + alphabetSize * concentration;
        for (int j = 0; j < alphabetSize; j++) probabilities[j] = (counts[j] + concentration) / denominator;
        return probabilities;
    }

    /// <summary>
    /// The in-context unigram predictive [V] after <paramref name="prefix"/>: token frequencies of the prefix under
    /// the same symmetric Dirichlet(α) prior, <c>(c_j + α) / (t + 1 + Vα)</c>. It ignores the previous token, so
    /// the gap between it and <see cref="PosteriorPredictive"/> is what modelling transitions buys.
    /// </summary>
    public static double[] InContextUnigramPredictive(ReadOnlySpan<long> prefix, int alphabetSize, double concentration)
    {
        Validate(alphabetSize, concentration);
        var counts = new long[alphabetSize];
        foreach (long token in prefix) counts[CheckToken(token, alphabetSize)]++;
        var probabilities = new double[alphabetSize];
        double denominator = prefix.Length + alphabetSize * concentration;
        for (int j = 0; j < alphabetSize; j++) probabilities[j] = (counts[j] + concentration) / denominator;
        return probabilities;
    }

    /// <summary>
    /// Bayes-optimal negative log-likelihoods (nats) of one sequence [T+1]: entry t [T] is
    /// −ln p(x_{t+1} | x_≤t). Entry 0 is always ln V (nothing is known about the chain yet).
    /// </summary>
    public static double[] SequenceNll(ReadOnlySpan<long> sequence, int alphabetSize, double concentration)
    {
        var nll = new double[NllLength(sequence)];
        WriteSequenceNll(sequence, alphabetSize, concentration, nll, new long[alphabetSize * alphabetSize], new long[alphabetSize]);
        return nll;
    }

    /// <summary>In-context unigram negative log-likelihoods (nats) of one sequence [T+1], [T].</summary>
    public static double[] SequenceUnigramNll(ReadOnlySpan<long> sequence, int alphabetSize, double concentration)
    {
        var nll = new double[NllLength(sequence)];
        WriteSequenceUnigramNll(sequence, alphabetSize, concentration, nll, new long[alphabetSize]);
        return nll;
    }

    /// <summary>
    /// Bayes-optimal negative log-likelihoods (nats) for every labelled position of a batch, [B, T]; positions whose
    /// label is ignored get NaN. Each row is scored as its own chain.
    /// </summary>
    public static double[] BatchNll(TokenBatch batch, int alphabetSize, double concentration)
    {
        ArgumentNullException.ThrowIfNull(batch);
        Validate(alphabetSize, concentration);
        int t = batch.SequenceLength;
        var nll = new double[(long)batch.BatchSize * t];
        var transitionCounts = new long[alphabetSize * alphabetSize];
        var rowTotals = new long[alphabetSize];
        for (int b = 0; b < batch.BatchSize; b++)
        {
            var row = nll.AsSpan(b * t, t);
            WriteSequenceNll(batch.Row(b), alphabetSize, concentration, row, transitionCounts, rowTotals);
            var labels = batch.LabelRow(b);
            for (int p = 0; p < t; p++)
                if (labels[p] == TokenBatch.IgnoreIndex) row[p] = double.NaN;
        }
        return nll;
    }

    /// <summary>
    /// Writes −ln p(x_{t+1} | x_≤t) [T] for <paramref name="sequence"/> [T+1] using the caller's count buffers
    /// ([V·V] and [V], cleared here), updating counts incrementally so a sequence costs O(T + V²).
    /// </summary>
    internal static void WriteSequenceNll(ReadOnlySpan<long> sequence, int alphabetSize, double concentration,
        Span<double> nll, Span<long> transitionCounts, Span<long> rowTotals)
    {
        Validate(alphabetSize, concentration);
        transitionCounts.Clear();
        rowTotals.Clear();
        double priorMass = alphabetSize * concentration;
        for (int p = 0; p + 1 < sequence.Length; p++)
        {
            int from = CheckToken(sequence[p], alphabetSize), to = CheckToken(sequence[p + 1], alphabetSize);
            int cell = from * alphabetSize + to;
            nll[p] = -DeterministicMath.Log((transitionCounts[cell] + concentration) / (rowTotals[from] + priorMass));
            transitionCounts[cell]++;
            rowTotals[from]++;
        }
    }

    /// <summary>Writes the in-context unigram NLLs [T] of <paramref name="sequence"/> [T+1].</summary>
    internal static void WriteSequenceUnigramNll(ReadOnlySpan<long> sequence, int alphabetSize, double concentration,
        Span<double> nll, Span<long> tokenCounts)
    {
        Validate(alphabetSize, concentration);
        tokenCounts.Clear();
        double priorMass = alphabetSize * concentration;
        if (sequence.Length > 0) tokenCounts[CheckToken(sequence[0], alphabetSize)]++;
        for (int p = 0; p + 1 < sequence.Length; p++)
        {
            int next = CheckToken(sequence[p + 1], alphabetSize);
            nll[p] = -DeterministicMath.Log((tokenCounts[next] + concentration) / (p + 1 + priorMass));
            tokenCounts[next]++;
        }
    }

    private static int NllLength(ReadOnlySpan<long> sequence) =>
        sequence.Length >= 2 ? sequence.Length - 1 : throw new ArgumentException("a sequence needs at least 2 tokens to be scored", nameof(sequence));

    private static int CheckToken(long token, int alphabetSize) =>
        token >= 0 && token < alphabetSize ? (int)token
        : throw new ArgumentException($"token {token} is outside the markov alphabet [0, {alphabetSize})");

    private static void Validate(int alphabetSize, double concentration) =>
        new MarkovOptions { AlphabetSize = alphabetSize, Concentration = concentration }.Validate();
}
