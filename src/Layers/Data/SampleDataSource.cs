namespace Ttt.Data;

/// <summary>
/// Shared machinery of the built-in sources: every sample is a pure function of its index in the split, so the
/// stream position is a single counter, batches are the next B indices, and resuming restores the counter.
/// </summary>
public abstract class SampleDataSource : IDataSource
{
    private long _nextSample;

    /// <summary>Validates and stores the parts of the stream's identity common to all sources.</summary>
    protected SampleDataSource(ulong seed, DataSplit split, int sequenceLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sequenceLength);
        if (!Enum.IsDefined(split)) throw new ArgumentOutOfRangeException(nameof(split), split, "split must be Train or Eval");
        Seed = seed;
        Split = split;
        SequenceLength = sequenceLength;
    }

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public abstract int VocabSize { get; }

    /// <inheritdoc />
    public int SequenceLength { get; }

    /// <inheritdoc />
    public ulong Seed { get; }

    /// <inheritdoc />
    public DataSplit Split { get; }

    /// <inheritdoc />
    public virtual long? DistinctSampleCount => null;

    /// <summary>
    /// A canonical description of everything besides seed and split that shapes the stream; stored in
    /// <see cref="DataSourceState.Configuration"/> and compared on <see cref="SetState"/>.
    /// </summary>
    public abstract string Configuration { get; }

    /// <summary>
    /// Writes sample <paramref name="index"/> of this split: <paramref name="tokens"/> [T+1] and
    /// <paramref name="labels"/> [T] (the next token, or <see cref="TokenBatch.IgnoreIndex"/>).
    /// Must depend only on the configuration, seed, split and index.
    /// </summary>
    protected abstract void WriteSample(long index, Span<long> tokens, Span<long> labels);

    /// <summary>The batch of samples [first, first+B) without moving the position.</summary>
    public TokenBatch BatchAt(long firstSample, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstSample);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        int t = SequenceLength;
        var tokens = new long[checked((long)batchSize * (t + 1))];
        var labels = new long[(long)batchSize * t];
        for (int b = 0; b < batchSize; b++)
            WriteSample(firstSample + b, tokens.AsSpan(b * (t + 1), t + 1), labels.AsSpan(b * t, t));
        return new TokenBatch(tokens, labels, batchSize, t);
    }

    /// <inheritdoc />
    public TokenBatch NextBatch(int batchSize)
    {
        var batch = BatchAt(_nextSample, batchSize);
        _nextSample += batchSize;
        return batch;
    }

    /// <inheritdoc />
    public DataSourceState GetState() => new()
    {
        Source = Name,
        Configuration = Configuration,
        Seed = Seed,
        Split = Split,
        NextSample = _nextSample,
    };

    /// <inheritdoc />
    public void SetState(DataSourceState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Source != Name)
            throw new ArgumentException($"data state belongs to source '{state.Source}', not '{Name}'", nameof(state));
        if (state.Configuration != Configuration)
            throw new ArgumentException($"data state was saved with configuration '{state.Configuration}' but this {Name} source has '{Configuration}'", nameof(state));
        if (state.Seed != Seed || state.Split != Split)
            throw new ArgumentException($"data state is for seed {state.Seed} / {state.Split}, this source is seed {Seed} / {Split}", nameof(state));
        ArgumentOutOfRangeException.ThrowIfNegative(state.NextSample, nameof(state));
        _nextSample = state.NextSample;
    }
}
