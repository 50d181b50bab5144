using Ttt.Cpu.Fast;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// <see cref="CrossEntropy"/> as one fused CPU op (float32/float64 logits on the CPU; elsewhere the composed op):
    /// the forward keeps one log-sum-exp per row instead of a [N, C] log-softmax, and the first-order backward
    /// writes (softmax − one-hot)/count·g straight into the logits' gradient. With grad mode on in backward
    /// (createGraph) the same gradient is built from differentiable ops (softmax, a one-hot mask), so gradients of
    /// any order stay exact. Same value as the composed op to rounding (row sums are accumulated in double).
    /// </summary>
    public static Tensor FusedCrossEntropy(Tensor logits, Tensor targets, long ignoreIndex = -100)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(targets);
        if (logits.Device.Type != DeviceType.Cpu) return CrossEntropy(logits, targets, ignoreIndex);
        logits.CheckFloat("cross_entropy");
        if (targets.DType != DType.Int64)
            throw new ArgumentException($"cross_entropy: targets must be int64, got {targets.DType.Name()} {ShapeUtil.Format(targets._shape)}");
        if (logits.Rank < 1 || !ShapeUtil.SameShape(logits._shape[..^1], targets._shape))
            throw new ArgumentException($"cross_entropy: logits {ShapeUtil.Format(logits._shape)} need shape [..., C] over targets {ShapeUtil.Format(targets._shape)}");
        int classes = logits._shape[^1];
        var flat = logits.Reshape(-1, classes);
        if (flat.Strides[1] != 1 && classes > 1) flat = flat.Contiguous();
        var ids = targets.Reshape(-1).ToLongArray();
        int count = 0;
        foreach (var t in ids)
        {
            if (t == ignoreIndex) continue;
            if (t < 0 || t >= classes)
                throw new IndexOutOfRangeException($"cross_entropy: target {t} is out of range for {classes} classes (logits {ShapeUtil.Format(logits._shape)})");
            count++;
        }
        var lse = new double[ids.Length];
        var rowLoss = new double[ids.Length];
        if (logits.DType == DType.Float32) CrossEntropyKernel.Forward<float>(flat, ids, ignoreIndex, lse, rowLoss);
        else CrossEntropyKernel.Forward<double>(flat, ids, ignoreIndex, lse, rowLoss);
        double total = 0;
        foreach (var l in rowLoss) total += l;                                   // fixed order: deterministic
        var loss = Full([], total / count, logits.DType, logits.Device);
        return ShouldRecord(logits) ? loss.WithGradFn(new FusedCrossEntropyBackward(logits, flat, ids, ignoreIndex, lse, count)) : loss;
    }

    private sealed class FusedCrossEntropyBackward : GradNode
    {
        private readonly SavedTensor _flat;
        private readonly long[] _targets;
        private readonly long _ignoreIndex;
        private readonly double[] _lse;
        private readonly int _count;
        private readonly int[] _shape;

        public FusedCrossEntropyBackward(Tensor logits, Tensor flat, long[] targets, long ignoreIndex, double[] lse, int count) : base("cross_entropy", logits)
        {
            _flat = Save(flat);
            _targets = targets;
            _ignoreIndex = ignoreIndex;
            _lse = lse;
            _count = count;
            _shape = logits.ShapeArray();
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var flat = _flat.Value;
            int classes = flat.Shape[1];
            if (GradMode.IsEnabled)
            {
                // d/dlogits of Σ_valid (lse − x_target)/count = (softmax − one-hot)·mask/count, in differentiable ops.
                var ids = FromArray(_targets, [_targets.Length, 1], flat.Device);
                var valid = ids.NotEqualTo(_ignoreIndex).To(flat.DType);                               // [N, 1]
                var oneHot = Equal(Arange(0, classes, 1, DType.Int64, flat.Device).Reshape(1, classes), ids).To(flat.DType);
                var grad = (flat.Softmax(-1) - oneHot) * (valid * (g / _count));
                return [grad.Reshape(_shape)];
            }
            var dx = Empty([flat.Shape[0], classes], flat.DType, flat.Device);
            double scale = g.Item() / _count;
            if (flat.DType == DType.Float32) CrossEntropyKernel.Backward<float>(flat, _targets, _ignoreIndex, _lse, scale, dx);
            else CrossEntropyKernel.Backward<double>(flat, _targets, _ignoreIndex, _lse, scale, dx);
            return [dx.Reshape(_shape)];
        }
    }
}
