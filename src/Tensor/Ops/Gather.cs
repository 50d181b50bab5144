namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// y[i…, j, k…] = x[i…, index[i…, j, k…], k…] along <paramref name="dim"/>; index is int64 with x's rank and
    /// sizes ≤ x's on the other dims. ∂/∂x = zeros.ScatterAdd(dim, index, g).
    /// </summary>
    public Tensor Gather(int dim, Tensor index)
    {
        ArgumentNullException.ThrowIfNull(index);
        int d = ShapeUtil.NormalizeDim("gather", dim, Rank, _shape);
        CheckIndexTensor("gather", index, d, _shape, sameRank: true);
        var y = Empty(index._shape, DType, Device);
        Backend.Gather(this, d, index, y);
        return ShouldRecord(this) ? y.WithGradFn(new GatherBackward(this, d, index)) : y;
    }

    /// <summary>
    /// A copy of this tensor with src[i…, j, k…] added at [i…, index[i…, j, k…], k…] (repeats accumulate).
    /// ∂/∂self = g, ∂/∂src = g.Gather(dim, index).
    /// </summary>
    public Tensor ScatterAdd(int dim, Tensor index, Tensor src)
    {
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(src);
        int d = ShapeUtil.NormalizeDim("scatter_add", dim, Rank, _shape);
        CheckCompatible("scatter_add", src);
        CheckIndexTensor("scatter_add", index, d, _shape, sameRank: true);
        if (!ShapeUtil.SameShape(index._shape, src._shape))
            throw new ArgumentException($"scatter_add: index shape {ShapeUtil.Format(index._shape)} differs from src shape {ShapeUtil.Format(src._shape)}");
        var y = ContiguousRaw();
        Backend.ScatterAdd(y, d, index, src);
        return ShouldRecord(this, src) ? y.WithGradFn(new ScatterAddBackward(this, src, d, index)) : y;
    }

    /// <summary>Validates an int64 index tensor: dtype, device, rank, sizes and every value in range.</summary>
    internal void CheckIndexTensor(string op, Tensor index, int dim, int[] shape, bool sameRank)
    {
        if (index.DType != DType.Int64)
            throw new ArgumentException($"{op}: index must be int64, got {index.DType.Name()} {ShapeUtil.Format(index._shape)}");
        CheckSameDevice(op, index);
        if (sameRank)
        {
            if (index.Rank != shape.Length)
                throw new ArgumentException($"{op}: index of shape {ShapeUtil.Format(index._shape)} must have the rank of the input {ShapeUtil.Format(shape)}");
            for (int k = 0; k < shape.Length; k++)
                if (k != dim && index._shape[k] > shape[k])
                    throw new ArgumentException($"{op}: index shape {ShapeUtil.Format(index._shape)} exceeds input shape {ShapeUtil.Format(shape)} at dim {k}");
        }
        if (index.Numel == 0) return;
        var flat = index.ToLongArray();
        long n = shape[dim];
        foreach (var v in flat)
            if (v < 0 || v >= n)
                throw new IndexOutOfRangeException($"{op}: index {v} is out of range for dim {dim} of size {n} (input shape {ShapeUtil.Format(shape)})");
    }

    private sealed class GatherBackward(Tensor x, int dim, Tensor index) : GradNode("gather", x)
    {
        private readonly int[] _xShape = x.ShapeArray();
        private readonly Tensor _index = index.Detach();

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) =>
            [Zeros(_xShape, g.DType, g.Device).ScatterAdd(dim, _index, g)];
    }

    private sealed class ScatterAddBackward(Tensor self, Tensor src, int dim, Tensor index) : GradNode("scatter_add", self, src)
    {
        private readonly Tensor _index = index.Detach();

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) =>
            [needs[0] ? g : null, needs[1] ? g.Gather(dim, _index) : null];
    }
}
