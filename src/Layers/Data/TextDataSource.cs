using System.Globalization;

namespace Ttt.Data;

/// <summary>
/// The <c>text:PATH</c> task: windows of T+1 consecutive tokens from a <see cref="TextCorpus"/>. Train samples are
/// windows at uniformly random offsets inside the train part (sample n's offset comes from its own generator, so
/// the stream is resumable and independent of batch size); eval samples walk the eval part in consecutive,
/// non-overlapping windows and wrap around after <see cref="DistinctSampleCount"/> of them, so one pass over
/// those samples scores the whole eval part once (up to the final partial window). The parts are disjoint ranges
/// of the stream, so no train window shares a token position with an eval window.
/// </summary>
public sealed class TextDataSource : SampleDataSource
{
    private readonly int _regionStart, _regionLength;

    /// <summary>Creates the <paramref name="split"/> stream over <paramref name="corpus"/> with T = <paramref name="sequenceLength"/>.</summary>
    public TextDataSource(TextCorpus corpus, ulong seed, DataSplit split, int sequenceLength)
        : base(seed, split, sequenceLength)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        Corpus = corpus;
        (_regionStart, _regionLength) = split == DataSplit.Train ? (0, corpus.TrainTokenCount) : (corpus.TrainTokenCount, corpus.EvalTokenCount);
        long window = sequenceLength + 1L;
        if (_regionLength < window)
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"text corpus '{corpus.Path}' is too short: its {split.ToString().ToLowerInvariant()} part has {_regionLength} {corpus.Tokenizer.Name} tokens (of {corpus.TokenCount}; eval = last {corpus.EvalFraction:P1}), fewer than one window of T+1 = {window}; use more text, a shorter sequence length{(split == DataSplit.Eval ? " or a larger eval fraction" : "")}"));
    }

    /// <summary>The task name, "text".</summary>
    public const string TaskName = "text";

    /// <summary>The corpus the windows come from.</summary>
    public TextCorpus Corpus { get; }

    /// <inheritdoc />
    public override string Name => TaskName;

    /// <inheritdoc />
    public override int VocabSize => Corpus.Tokenizer.VocabSize;

    /// <inheritdoc />
    public override string Configuration => string.Create(CultureInfo.InvariantCulture,
        $"tokenizer={Corpus.Tokenizer.Name} tokens={Corpus.TokenCount} eval={Corpus.EvalTokenCount} corpus={Corpus.Fingerprint} T={SequenceLength}");

    /// <summary>For eval: the number of non-overlapping windows in the eval part; for train: null (random windows).</summary>
    public override long? DistinctSampleCount => Split == DataSplit.Eval ? _regionLength / (SequenceLength + 1) : null;

    /// <summary>The position in <see cref="TextCorpus.Tokens"/> of the first token of sample <paramref name="index"/>.</summary>
    public long WindowStart(long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        int window = SequenceLength + 1;
        if (Split == DataSplit.Eval) return _regionStart + index % (_regionLength / window) * window;
        var generator = SampleSeeds.GeneratorFor(Seed, Split, index);
        return _regionStart + generator.NextInt64(_regionLength - window + 1);
    }

    /// <inheritdoc />
    protected override void WriteSample(long index, Span<long> tokens, Span<long> labels)
    {
        var window = Corpus.Tokens.Slice((int)WindowStart(index), tokens.Length);
        for (int i = 0; i < window.Length; i++) tokens[i] = window[i];
        tokens[1..].CopyTo(labels);
    }
}
