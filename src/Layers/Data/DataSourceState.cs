namespace Ttt.Data;

/// <summary>
/// The position of an <see cref="IDataSource"/> in its stream, as plain data (it round-trips through
/// System.Text.Json). A source restored with <see cref="IDataSource.SetState"/> produces, from then on, exactly the
/// batches the original would have produced: every sample is a pure function of (configuration, seed, split,
/// sample index), so the sample counter is the whole position.
/// </summary>
public sealed record DataSourceState
{
    /// <summary>The task name ("markov", "mqar" or "text").</summary>
    public required string Source { get; init; }

    /// <summary>
    /// A canonical description of everything besides the seed that shapes the stream (sizes, priors, tokenizer,
    /// corpus fingerprint). Restoring into a source whose configuration differs is refused, since the resumed
    /// stream would silently differ.
    /// </summary>
    public required string Configuration { get; init; }

    /// <summary>The seed the stream is derived from.</summary>
    public required ulong Seed { get; init; }

    /// <summary>Which stream (train or eval).</summary>
    public required DataSplit Split { get; init; }

    /// <summary>Index of the next sample that <see cref="IDataSource.NextBatch"/> will return (0 at the start).</summary>
    public required long NextSample { get; init; }
}
