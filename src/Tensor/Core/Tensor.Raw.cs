using Ttt.Backends;

namespace Ttt;

/// <summary>Building blocks of the op layer: views and backend calls without autograd bookkeeping.</summary>
public sealed partial class Tensor
{
    /// <summary>A view over the same storage (no autograd).</summary>
    internal Tensor ViewRaw(int[] shape, long[] strides, long offset) => new(Storage, shape, strides, offset);

    /// <summary>Broadcast view to <paramref name="shape"/> (stride 0 on expanded dims), checked.</summary>
    internal Tensor ExpandRaw(string op, ReadOnlySpan<int> shape)
    {
        if (ShapeUtil.SameShape(_shape, shape)) return this;
        if (shape.Length < Rank)
            throw new ArgumentException($"{op}: cannot broadcast shape {ShapeUtil.Format(_shape)} to the smaller rank of {ShapeUtil.Format(shape)}");
        var strides = new long[shape.Length];
        int lead = shape.Length - Rank;
        for (int i = 0; i < shape.Length; i++)
        {
            if (i < lead)
            {
                strides[i] = 0;
                continue;
            }
            int own = _shape[i - lead];
            if (own == shape[i]) strides[i] = _strides[i - lead];
            else if (own == 1) strides[i] = 0;
            else
                throw new ArgumentException($"{op}: cannot broadcast shape {ShapeUtil.Format(_shape)} to {ShapeUtil.Format(shape)} (dim {i}: {own} vs {shape[i]})");
        }
        return new Tensor(Storage, shape.ToArray(), strides, Offset);
    }

    internal Tensor UnaryRaw(UnaryOp op, double a = 0, double b = 0)
    {
        var y = Empty(_shape, DType, Device);
        Backend.Unary(op, this, y, a, b);
        return y;
    }

    /// <summary>Broadcasting binary primitive; checks device and dtype; result dtype = inputs' dtype.</summary>
    internal static Tensor BinaryRaw(string opName, BinaryOp op, Tensor a, Tensor b)
    {
        a.CheckCompatible(opName, b);
        var shape = ShapeUtil.Broadcast(opName, a._shape, b._shape);
        var y = Empty(shape, a.DType, a.Device);
        a.Backend.Binary(op, a.ExpandRaw(opName, shape), b.ExpandRaw(opName, shape), y);
        return y;
    }

    internal Tensor ReduceRaw(ReduceOp op, int[] dims, bool keepDim)
    {
        var kept = ShapeUtil.Reduced(_shape, dims, keepDim: true);
        var y = Empty(kept, DType, Device);
        Backend.Reduce(op, this, dims, y);
        return keepDim ? y : y.ViewRaw(ShapeUtil.Reduced(_shape, dims, keepDim: false), ShapeUtil.ContiguousStrides(ShapeUtil.Reduced(_shape, dims, keepDim: false)), 0);
    }

    /// <summary>A scalar constant tensor with this tensor's dtype and device.</summary>
    internal Tensor ScalarLike(double value) => Full([], value, DType, Device);
}
