using Ttt.Cuda.Kernels;
using static Ttt.Cuda.Fused.FusedCommon;

namespace Ttt.Cuda.Fused;

/// <summary>
/// Fused cross-entropy (log-softmax + negative log-likelihood in one pass over the logits; ptx/cross_entropy.cu).
/// logits: [..., C]; targets: int64 [...] (rows = numel / C). The composite op is <see cref="Tensor.CrossEntropy"/>,
/// whose mean equals Σ loss / (number of targets ≠ ignoreIndex).
/// </summary>
internal static class FusedCrossEntropy
{
    /// <summary>
    /// Per-row loss = logsumexp(logits) − logits[target] (0 where the target is <paramref name="ignoreIndex"/>) and
    /// the per-row logsumexp that the backward needs. Both have the targets' shape.
    /// </summary>
    /// <exception cref="IndexOutOfRangeException">A target outside [0, C) that is not ignoreIndex.</exception>
    public static (Tensor Loss, Tensor Lse) Forward(Tensor logits, Tensor targets, long ignoreIndex = -100)
    {
        const string Op = "fused_cross_entropy";
        var (be, ld, td, rows, classes) = Check(Op, logits, targets);
        var loss = Tensor.Empty(targets.Shape, logits.DType, logits.Device);
        var lse = Tensor.Empty(targets.Shape, logits.DType, logits.Device);
        if (rows == 0) return (loss, lse);
        if (classes == 0) throw new ArgumentException($"{Op}: logits have 0 classes");
        using var status = new CudaBackend.StatusWord(be.CudaDevice);
        Launch(be, KernelCatalog.CrossEntropyForward[logits.DType], RowGrid(be, rows), 1, CudaBackend.RowBlockFor(classes),
            be.FirstElement(ld, Op), be.FirstElement(td, Op), be.FirstElement(loss, Op), be.FirstElement(lse, Op),
            rows, classes, ignoreIndex, status.Pointer);
        if (status.Read() != 0)
            throw new IndexOutOfRangeException($"{Op}: a target is out of range for {classes} classes (logits {ShapeUtil.Format(logits.Shape)}) and is not the ignore index {ignoreIndex}");
        return (loss, lse);
    }

    /// <summary>
    /// dlogits = dloss[row]·(softmax(logits) − onehot(target)), zero on ignored rows. <paramref name="dloss"/> has the
    /// targets' shape (for the mean loss: 1/count on every row).
    /// </summary>
    public static Tensor Backward(Tensor logits, Tensor targets, Tensor lse, Tensor dloss, long ignoreIndex = -100)
    {
        const string Op = "fused_cross_entropy_backward";
        ArgumentNullException.ThrowIfNull(lse);
        ArgumentNullException.ThrowIfNull(dloss);
        var (be, ld, td, rows, classes) = Check(Op, logits, targets);
        foreach (var (t, name) in new[] { (lse, "lse"), (dloss, "dloss") })
        {
            Same(Op, name, t, be, logits.DType);
            if (!ShapeUtil.SameShape(t.Shape, targets.Shape))
                throw new ArgumentException($"{Op}: {name} has shape {ShapeUtil.Format(t.Shape)}, expected the targets' {ShapeUtil.Format(targets.Shape)}");
        }
        var dlogits = Tensor.Empty(logits.Shape, logits.DType, logits.Device);
        long n = rows * classes;
        if (n == 0) return dlogits;
        Launch(be, KernelCatalog.CrossEntropyBackward[logits.DType], be.ElementwiseGrid(n), 1, CudaBackend.StandardBlock,
            be.FirstElement(ld, Op), be.FirstElement(td, Op), be.FirstElement(Dense(lse), Op), be.FirstElement(Dense(dloss), Op),
            be.FirstElement(dlogits, Op), rows, classes, ignoreIndex);
        return dlogits;
    }

    private static (CudaBackend, Tensor, Tensor, long, long) Check(string op, Tensor logits, Tensor targets)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(targets);
        Float(op, logits);
        var be = Backend(op, logits);
        Same(op, "targets", targets, be, DType.Int64);
        if (logits.Rank < 1 || !ShapeUtil.SameShape(logits.Shape[..^1], targets.Shape))
            throw new ArgumentException($"{op}: logits {ShapeUtil.Format(logits.Shape)} need shape [..., C] over targets {ShapeUtil.Format(targets.Shape)}");
        long classes = logits.Shape[^1];
        return (be, Dense(logits), Dense(targets), targets.Numel, classes);
    }
}
