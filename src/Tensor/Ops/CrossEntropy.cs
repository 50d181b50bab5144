namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// Mean cross-entropy of <paramref name="logits"/> [..., C] against int64 <paramref name="targets"/> [...],
    /// averaged over targets that are not <paramref name="ignoreIndex"/>; composed as
    /// −mean(gather(log_softmax(logits), targets)). Returns NaN when every target is ignored (as 0/0).
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, long ignoreIndex = -100)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(targets);
        logits.CheckFloat("cross_entropy");
        if (targets.DType != DType.Int64)
            throw new ArgumentException($"cross_entropy: targets must be int64, got {targets.DType.Name()} {ShapeUtil.Format(targets._shape)}");
        if (logits.Rank < 1 || !ShapeUtil.SameShape(logits._shape[..^1], targets._shape))
            throw new ArgumentException($"cross_entropy: logits {ShapeUtil.Format(logits._shape)} need shape [..., C] over targets {ShapeUtil.Format(targets._shape)}");
        int classes = logits._shape[^1];
        var flatLogits = logits.Reshape(-1, classes);
        var flatTargets = targets.Reshape(-1);
        var valid = flatTargets.NotEqualTo(ignoreIndex);                       // int64 mask
        var safe = Where(valid, flatTargets, Zeros([], DType.Int64, targets.Device)); // ignored → class 0
        foreach (var t in flatTargets.ToLongArray())
            if (t != ignoreIndex && (t < 0 || t >= classes))
                throw new IndexOutOfRangeException($"cross_entropy: target {t} is out of range for {classes} classes (logits {ShapeUtil.Format(logits._shape)})");
        var logProbs = flatLogits.LogSoftmax(-1);
        var picked = logProbs.Gather(1, safe.Unsqueeze(1)).Squeeze(1);       // [N]
        var mask = valid.To(logits.DType);
        return -(picked * mask).Sum() / mask.Sum();
    }
}
