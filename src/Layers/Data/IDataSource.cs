namespace Ttt.Data;

/// <summary>
/// A deterministic, resumable stream of token sequences for language-model training or evaluation. Each call to
/// <see cref="NextBatch"/> returns the next <c>B</c> samples of the stream as a <see cref="TokenBatch"/> of shape
/// [B, T+1]: inputs are the first T tokens, labels the last T (the stream shifted by one), with
/// <see cref="TokenBatch.IgnoreIndex"/> where a position is not scored. A source is not thread-safe: give each
/// consumer its own (they are cheap; a text corpus can be shared).
/// </summary>
public interface IDataSource
{
    /// <summary>The task name ("markov", "mqar" or "text").</summary>
    string Name { get; }

    /// <summary>Number of distinct token ids V; every token and label lies in [0, V) (labels may also be −100).</summary>
    int VocabSize { get; }

    /// <summary>T, the number of input (and label) positions per sample; samples hold T+1 tokens.</summary>
    int SequenceLength { get; }

    /// <summary>The seed the stream is derived from.</summary>
    ulong Seed { get; }

    /// <summary>Which stream this source reads.</summary>
    DataSplit Split { get; }

    /// <summary>
    /// The number of distinct samples before the stream repeats (a text corpus's eval windows), or null for an
    /// unbounded stream (synthetic tasks; random text training windows).
    /// </summary>
    long? DistinctSampleCount { get; }

    /// <summary>Returns the next <paramref name="batchSize"/> samples and advances the position by that many.</summary>
    TokenBatch NextBatch(int batchSize);

    /// <summary>The current position as plain, JSON-serializable data.</summary>
    DataSourceState GetState();

    /// <summary>
    /// Restores a position produced by <see cref="GetState"/> of a source with the same name, configuration, seed
    /// and split; throws <see cref="ArgumentException"/> otherwise.
    /// </summary>
    void SetState(DataSourceState state);
}
