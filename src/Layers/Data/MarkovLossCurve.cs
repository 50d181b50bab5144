namespace Ttt.Data;

/// <summary>
/// Expected next-token loss (nats) by position for the <c>markov</c> task, each curve [T] averaged over
/// <see cref="Sequences"/> sequences. Entry t is the loss of predicting x_{t+1} from x_≤t, matching label
/// position t of a <see cref="TokenBatch"/>.
/// </summary>
/// <param name="Sequences">How many sequences were averaged.</param>
/// <param name="Uniform">ln V: the loss of predicting the uniform (marginal) distribution at every position.</param>
/// <param name="BayesOptimal">The Bayes-optimal loss, the floor for any model.</param>
/// <param name="BayesOptimalStandardError">Standard error of each <paramref name="BayesOptimal"/> entry.</param>
/// <param name="InContextUnigram">The loss of predicting from token frequencies seen so far (same Dirichlet prior).</param>
/// <param name="KnownChain">The loss of a predictor told each sequence's true transition matrix (below the Bayes curve; the gap is the price of learning the chain in context).</param>
public sealed record MarkovLossCurve(
    int Sequences,
    double Uniform,
    IReadOnlyList<double> BayesOptimal,
    IReadOnlyList<double> BayesOptimalStandardError,
    IReadOnlyList<double> InContextUnigram,
    IReadOnlyList<double> KnownChain)
{
    /// <summary>The mean of <see cref="BayesOptimal"/> over positions: the Bayes-optimal value of a whole-sequence mean loss.</summary>
    public double MeanBayesOptimal => BayesOptimal.Average();

    /// <summary>The mean of <see cref="InContextUnigram"/> over positions.</summary>
    public double MeanInContextUnigram => InContextUnigram.Average();

    /// <summary>The mean of <see cref="KnownChain"/> over positions.</summary>
    public double MeanKnownChain => KnownChain.Average();
}
