using Ttt.Data;
using Ttt.Models;

namespace Ttt.Training;

/// <summary>Loss of a model on held-out data, overall and by token position.</summary>
/// <param name="MeanLoss">Mean next-token NLL (nats) over every scored position.</param>
/// <param name="LossByPosition">Mean NLL at each position t (predicting token t + 1); NaN where nothing was scored.</param>
/// <param name="Accuracy">Fraction of scored positions whose argmax is right.</param>
/// <param name="Tokens">Scored positions.</param>
/// <param name="ReferenceByPosition">A reference predictor's loss on the same tokens (e.g. Bayes-optimal), if given.</param>
public sealed record EvalResult(double MeanLoss, double[] LossByPosition, double Accuracy, long Tokens, double[]? ReferenceByPosition = null)
{
    /// <summary>The reference predictor's mean loss over the same tokens (NaN without one).</summary>
    public double ReferenceMeanLoss => ReferenceByPosition is null ? double.NaN : MeanOver(ReferenceByPosition);

    private static double MeanOver(double[] v)
    {
        var finite = v.Where(double.IsFinite).ToArray();
        return finite.Length == 0 ? double.NaN : finite.Average();
    }

    /// <summary>exp(mean loss).</summary>
    public double Perplexity => Math.Exp(MeanLoss);
}

/// <summary>Evaluation loops.</summary>
public static class Evaluation
{
    /// <summary>
    /// Per-token NLL of logits [B, T, V] against labels [B, T] (−100 ignored → NaN), as a [B, T] float64 array
    /// (row-major).
    /// </summary>
    public static double[] TokenNll(Tensor logits, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(labels);
        using var _ = GradMode.Disable();
        var logProbs = logits.LogSoftmax(-1);
        var lab = labels.ToLongArray();
        var safe = Tensor.FromArray(lab.Select(l => l < 0 ? 0 : l).ToArray(), labels.ShapeArray(), labels.Device);
        var picked = logProbs.Gather(2, safe.Unsqueeze(-1)).Squeeze(-1).ToDoubleArray();
        for (int i = 0; i < picked.Length; i++) picked[i] = lab[i] < 0 ? double.NaN : -picked[i];
        return picked;
    }

    /// <summary>
    /// Evaluates <paramref name="batches"/> batches of <paramref name="batchSize"/> from <paramref name="data"/>;
    /// <paramref name="reference"/> may give a reference predictor's per-token NLL ([B, T], NaN where unscored) for
    /// each batch, averaged by position alongside the model's.
    /// </summary>
    public static EvalResult Run(CausalLM model, IDataSource data, int batches, int batchSize, Device? device = null, Func<TokenBatch, double[]?>? reference = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        int t = data.SequenceLength;
        var sum = new double[t];
        var count = new long[t];
        var refSum = new double[t];
        var refCount = new long[t];
        long correct = 0, scored = 0;
        bool wasTraining = model.Training;
        model.Eval();
        try
        {
            using var _ = GradMode.Disable();
            for (int i = 0; i < batches; i++)
            {
                var batch = data.NextBatch(batchSize);
                var logits = model.Forward(batch.InputsTensor(device));
                var nll = TokenNll(logits, batch.LabelsTensor(device));
                for (int j = 0; j < nll.Length; j++)
                {
                    if (double.IsNaN(nll[j])) continue;
                    sum[j % t] += nll[j];
                    count[j % t]++;
                }
                if (reference?.Invoke(batch) is { } r)
                    for (int j = 0; j < r.Length; j++)
                        if (double.IsFinite(r[j]))
                        {
                            refSum[j % t] += r[j];
                            refCount[j % t]++;
                        }
                var (c, s) = batch.CountCorrect(logits.ArgMax(-1).ToLongArray());
                correct += c;
                scored += s;
            }
        }
        finally
        {
            model.Train(wasTraining);
        }
        var byPosition = sum.Select((v, i) => count[i] == 0 ? double.NaN : v / count[i]).ToArray();
        long tokens = count.Sum();
        double[]? refByPosition = reference is null ? null : refSum.Select((v, i) => refCount[i] == 0 ? double.NaN : v / refCount[i]).ToArray();
        return new EvalResult(tokens == 0 ? double.NaN : sum.Sum() / tokens, byPosition, scored == 0 ? double.NaN : correct / (double)scored, tokens, refByPosition);
    }
}
