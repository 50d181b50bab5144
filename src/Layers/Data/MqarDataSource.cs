using System.Globalization;

namespace Ttt.Data;

/// <summary>
/// The <c>mqar</c> task: multi-query associative recall (Arora et al. 2023, "Zoology"). A sample of T+1 tokens
/// starts with P key-value pairs <c>k₁ v₁ k₂ v₂ … k_P v_P</c> (distinct keys from [1, V/2), distinct values from
/// [V/2, V)); the rest is a query region of ⌊(T+1−2P)/2⌋ two-token slots filled with 0 except for Q queries placed
/// in distinct random slots, each a previously shown key followed by its value: <c>k_i v_i</c>. Only the query
/// positions are scored: the label at a query key's position is its value, every other label is −100
/// (<see cref="TokenBatch.IgnoreIndex"/>), so accuracy and loss measure recall alone. Unlike Zoology, which leaves
/// the token after a query blank, the value also follows the query in the token stream, so that labels are always
/// the stream shifted by one; the value appears only after the position that predicts it, so a causal model
/// gains nothing from it (each key is queried at most once).
/// </summary>
public sealed class MqarDataSource : SampleDataSource
{
    private readonly int _vocabSize, _pairCount, _queryCount;

    /// <summary>Creates the mqar stream of <paramref name="split"/> for <paramref name="seed"/>, T = <paramref name="sequenceLength"/>.</summary>
    public MqarDataSource(ulong seed, DataSplit split, int sequenceLength, MqarOptions? options = null)
        : base(seed, split, sequenceLength)
    {
        Options = options ?? new MqarOptions();
        Options.Validate(sequenceLength);
        _vocabSize = Options.VocabSize;
        _pairCount = Options.PairCount;
        _queryCount = Options.EffectiveQueryCount;
    }

    /// <summary>The task name, "mqar".</summary>
    public const string TaskName = "mqar";

    /// <summary>The filler token of the query region.</summary>
    public const long FillerToken = 0;

    /// <summary>Vocabulary size, pair count and query count.</summary>
    public MqarOptions Options { get; }

    /// <inheritdoc />
    public override string Name => TaskName;

    /// <inheritdoc />
    public override int VocabSize => _vocabSize;

    /// <inheritdoc />
    public override string Configuration => string.Create(CultureInfo.InvariantCulture, $"{Options.Describe()} T={SequenceLength}");

    /// <summary>The number of two-token query slots after the context, ⌊(T+1−2P)/2⌋.</summary>
    public int QuerySlotCount => (SequenceLength + 1 - 2 * _pairCount) / 2;

    /// <inheritdoc />
    protected override void WriteSample(long index, Span<long> tokens, Span<long> labels)
    {
        var generator = SampleSeeds.GeneratorFor(Seed, Split, index);
        int half = _vocabSize / 2;
        // Distinct keys from [1, V/2) and distinct values from [V/2, V), each a partial Fisher–Yates shuffle.
        var keys = DrawDistinct(generator, 1, half, _pairCount);
        var values = DrawDistinct(generator, half, _vocabSize, _pairCount);
        // Which pairs are queried (distinct) and in which slots (distinct), both in random order.
        var queriedPairs = DrawDistinct(generator, 0, _pairCount, _queryCount);
        var slots = DrawDistinct(generator, 0, QuerySlotCount, _queryCount);

        tokens.Fill(FillerToken);
        labels.Fill(TokenBatch.IgnoreIndex);
        for (int i = 0; i < _pairCount; i++)
        {
            tokens[2 * i] = keys[i];
            tokens[2 * i + 1] = values[i];
        }
        int queryStart = 2 * _pairCount;
        for (int q = 0; q < _queryCount; q++)
        {
            int position = queryStart + 2 * slots[q], pair = queriedPairs[q];
            tokens[position] = keys[pair];
            tokens[position + 1] = values[pair];
            // Label position p scores the prediction of token p+1: here, the value that follows the query key.
            labels[position] = values[pair];
        }
    }

    /// <summary>The first <paramref name="count"/> entries of a uniformly random permutation of [low, high).</summary>
    private static int[] DrawDistinct(Generator generator, int low, int high, int count)
    {
        var pool = new int[high - low];
        for (int i = 0; i < pool.Length; i++) pool[i] = low + i;
        for (int i = 0; i < count; i++)
        {
            int j = i + (int)generator.NextInt64(pool.Length - i);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        return pool[..count];
    }
}
