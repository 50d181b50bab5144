using System.Globalization;

namespace Ttt.Data;

/// <summary>
/// Settings of the <c>mqar</c> task (multi-query associative recall, as in Arora et al. 2023, "Zoology"). The
/// vocabulary is split as in Zoology: token 0 is the filler, keys come from [1, V/2), values from [V/2, V).
/// </summary>
public sealed record MqarOptions
{
    /// <summary>V, the vocabulary size. Default 8192, Zoology's setting, so results are comparable to theirs.</summary>
    public int VocabSize { get; init; } = 8192;

    /// <summary>
    /// The number of key-value pairs shown at the start of each sequence. Default 16 (Zoology uses 4–64, scaling
    /// with sequence length; 16 pairs with 16 queries need T ≥ 63).
    /// </summary>
    public int PairCount { get; init; } = 16;

    /// <summary>How many of the pairs are queried after the context; null (default) queries every pair, as Zoology does.</summary>
    public int? QueryCount { get; init; }

    /// <summary>The number of queries actually used: <see cref="QueryCount"/> or <see cref="PairCount"/>.</summary>
    public int EffectiveQueryCount => QueryCount ?? PairCount;

    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless keys and values can be drawn without repetition
    /// (P ≤ V/2 − 1 and P ≤ V − V/2), 1 ≤ queries ≤ P, and the 2P context tokens plus 2 tokens per query fit into
    /// T+1 tokens.
    /// </summary>
    public void Validate(int sequenceLength)
    {
        if (VocabSize < 4) throw new ArgumentException($"mqar: vocabulary size must be at least 4, got {VocabSize}");
        int keyCount = VocabSize / 2 - 1, valueCount = VocabSize - VocabSize / 2;
        if (PairCount < 1 || PairCount > keyCount || PairCount > valueCount)
            throw new ArgumentException($"mqar: pair count must be in [1, {Math.Min(keyCount, valueCount)}] for vocabulary {VocabSize} (distinct keys from [1, {VocabSize / 2}), distinct values from [{VocabSize / 2}, {VocabSize})), got {PairCount}");
        int queries = EffectiveQueryCount;
        if (queries < 1 || queries > PairCount)
            throw new ArgumentException($"mqar: query count must be in [1, {PairCount}], got {queries}");
        long needed = 2L * PairCount + 2L * queries;
        if (needed > sequenceLength + 1L)
            throw new ArgumentException($"mqar: {PairCount} pairs and {queries} queries need {needed} tokens (T ≥ {needed - 1}), but T = {sequenceLength}");
    }

    /// <summary>Canonical text used in <see cref="DataSourceState.Configuration"/>.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"V={VocabSize} pairs={PairCount} queries={EffectiveQueryCount}");
}
