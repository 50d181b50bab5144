namespace Ttt.Data;

/// <summary>
/// A batch of token sequences. <see cref="Tokens"/> is [B, T+1] row-major; the model reads the first T tokens of
/// each row (the inputs) and is scored on <see cref="Labels"/> [B, T], which is the row shifted left by
/// one with <see cref="IgnoreIndex"/> at positions that are not scored (MQAR scores only its query positions).
/// </summary>
public sealed class TokenBatch
{
    /// <summary>The label value of a position that is not scored (PyTorch's cross-entropy convention).</summary>
    public const long IgnoreIndex = -100;

    private readonly long[] _tokens;
    private readonly long[] _labels;

    /// <summary>
    /// Wraps token and label buffers (not copied). <paramref name="tokens"/> is [B, T+1]; <paramref name="labels"/>
    /// is [B, T] and each entry must equal the next token or be <see cref="IgnoreIndex"/>.
    /// </summary>
    public TokenBatch(long[] tokens, long[] labels, int batchSize, int sequenceLength)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sequenceLength);
        if (tokens.LongLength != (long)batchSize * (sequenceLength + 1))
            throw new ArgumentException($"tokens hold {tokens.LongLength} ids, expected B·(T+1) = {batchSize}·{sequenceLength + 1}", nameof(tokens));
        if (labels.LongLength != (long)batchSize * sequenceLength)
            throw new ArgumentException($"labels hold {labels.LongLength} ids, expected B·T = {batchSize}·{sequenceLength}", nameof(labels));
        for (int b = 0; b < batchSize; b++)
            for (int t = 0; t < sequenceLength; t++)
            {
                long label = labels[(long)b * sequenceLength + t];
                if (label != IgnoreIndex && label != tokens[(long)b * (sequenceLength + 1) + t + 1])
                    throw new ArgumentException($"label [{b}, {t}] = {label} is neither the next token nor {IgnoreIndex}", nameof(labels));
            }
        _tokens = tokens;
        _labels = labels;
        BatchSize = batchSize;
        SequenceLength = sequenceLength;
    }

    /// <summary>B, the number of sequences.</summary>
    public int BatchSize { get; }

    /// <summary>T, the number of input and label positions per sequence.</summary>
    public int SequenceLength { get; }

    /// <summary>All tokens, [B, T+1] row-major.</summary>
    public ReadOnlySpan<long> Tokens => _tokens;

    /// <summary>Labels, [B, T] row-major: the next token, or <see cref="IgnoreIndex"/> where not scored.</summary>
    public ReadOnlySpan<long> Labels => _labels;

    /// <summary>The T+1 tokens of sequence <paramref name="row"/>.</summary>
    public ReadOnlySpan<long> Row(int row) => _tokens.AsSpan(checked(row * (SequenceLength + 1)), SequenceLength + 1);

    /// <summary>The T labels of sequence <paramref name="row"/>.</summary>
    public ReadOnlySpan<long> LabelRow(int row) => _labels.AsSpan(checked(row * SequenceLength), SequenceLength);

    /// <summary>True where the label at [row, position] is scored (not <see cref="IgnoreIndex"/>).</summary>
    public bool IsScored(int row, int position) => LabelRow(row)[position] != IgnoreIndex;

    /// <summary>The number of scored positions in the batch.</summary>
    public long ScoredCount
    {
        get
        {
            long n = 0;
            foreach (long label in _labels)
                if (label != IgnoreIndex) n++;
            return n;
        }
    }

    /// <summary>The inputs, the first T tokens of each row, as host data [B, T].</summary>
    public long[] InputArray()
    {
        var inputs = new long[(long)BatchSize * SequenceLength];
        for (int b = 0; b < BatchSize; b++) Row(b)[..SequenceLength].CopyTo(inputs.AsSpan(b * SequenceLength, SequenceLength));
        return inputs;
    }

    /// <summary>All tokens as an int64 tensor [B, T+1].</summary>
    public Tensor TokensTensor(Device? device = null) => Tensor.FromArray(_tokens, [BatchSize, SequenceLength + 1], device);

    /// <summary>The inputs as an int64 tensor [B, T].</summary>
    public Tensor InputsTensor(Device? device = null) => Tensor.FromArray(InputArray(), [BatchSize, SequenceLength], device);

    /// <summary>The labels as an int64 tensor [B, T] (−100 where not scored).</summary>
    public Tensor LabelsTensor(Device? device = null) => Tensor.FromArray(_labels, [BatchSize, SequenceLength], device);

    /// <summary>The loss mask as a float32 tensor [B, T]: 1 where scored, 0 elsewhere.</summary>
    public Tensor LossMaskTensor(Device? device = null)
    {
        var mask = new float[_labels.Length];
        for (int i = 0; i < mask.Length; i++) mask[i] = _labels[i] == IgnoreIndex ? 0f : 1f;
        return Tensor.FromArray(mask, [BatchSize, SequenceLength], device);
    }

    /// <summary>
    /// Accuracy of predicted tokens [B, T] over the scored positions only (for MQAR: the query positions);
    /// returns the number correct and the number scored.
    /// </summary>
    public (long Correct, long Scored) CountCorrect(ReadOnlySpan<long> predictions)
    {
        if (predictions.Length != _labels.Length)
            throw new ArgumentException($"predictions hold {predictions.Length} ids, expected B·T = {_labels.Length}", nameof(predictions));
        long correct = 0, scored = 0;
        for (int i = 0; i < _labels.Length; i++)
        {
            if (_labels[i] == IgnoreIndex) continue;
            scored++;
            if (predictions[i] == _labels[i]) correct++;
        }
        return (correct, scored);
    }
}
