using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>Maximum over <paramref name="dims"/> (all when null). The gradient is shared evenly by tied maxima.</summary>
    public Tensor Max(int[]? dims = null, bool keepDim = false) => Extremum("max", ReduceOp.Max, dims, keepDim);

    /// <summary>Maximum over one dim.</summary>
    public Tensor Max(int dim, bool keepDim = false) => Max([dim], keepDim);

    /// <summary>Minimum over <paramref name="dims"/> (all when null). The gradient is shared evenly by tied minima.</summary>
    public Tensor Min(int[]? dims = null, bool keepDim = false) => Extremum("min", ReduceOp.Min, dims, keepDim);

    /// <summary>Minimum over one dim.</summary>
    public Tensor Min(int dim, bool keepDim = false) => Min([dim], keepDim);

    private Tensor Extremum(string name, ReduceOp op, int[]? dims, bool keepDim)
    {
        var nd = ShapeUtil.NormalizeDims(name, dims, _shape);
        foreach (var d in nd)
            if (_shape[d] == 0) throw new ArgumentException($"{name}: cannot reduce the empty dim {d} of shape {ShapeUtil.Format(_shape)}");
        var y = ReduceRaw(op, nd, keepDim);
        return ShouldRecord(this) ? y.WithGradFn(new ExtremumReduceBackward(name, this, y, nd, keepDim)) : y;
    }

    /// <summary>Index of the maximum along <paramref name="dim"/> (int64; first index wins ties). Not differentiable.</summary>
    public Tensor ArgMax(int dim, bool keepDim = false) => ArgReduce("argmax", ArgReduceOp.ArgMax, dim, keepDim);

    /// <summary>Index of the minimum along <paramref name="dim"/> (int64; first index wins ties). Not differentiable.</summary>
    public Tensor ArgMin(int dim, bool keepDim = false) => ArgReduce("argmin", ArgReduceOp.ArgMin, dim, keepDim);

    private Tensor ArgReduce(string name, ArgReduceOp op, int dim, bool keepDim)
    {
        int d = ShapeUtil.NormalizeDim(name, dim, Rank, _shape);
        if (Rank == 0) return Zeros([], DType.Int64, Device);
        if (_shape[d] == 0) throw new ArgumentException($"{name}: cannot reduce the empty dim {d} of shape {ShapeUtil.Format(_shape)}");
        var kept = ShapeUtil.Reduced(_shape, [d], keepDim: true);
        var y = Empty(kept, DType.Int64, Device);
        Backend.ArgReduce(op, this, d, y);
        return keepDim ? y : y.Reshape(ShapeUtil.Reduced(_shape, [d], keepDim: false));
    }

    private sealed class ExtremumReduceBackward : GradNode
    {
        private readonly SavedTensor _x, _y;
        private readonly int[] _dims;
        private readonly bool _keepDim;

        public ExtremumReduceBackward(string name, Tensor x, Tensor y, int[] dims, bool keepDim) : base(name, x)
        {
            (_x, _y, _dims, _keepDim) = (Save(x), Save(y), dims, keepDim);
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var x = _x.Value;
            var keptShape = ShapeUtil.Reduced(x.Shape, _dims, keepDim: true);
            var y = _keepDim ? _y.Value : _y.Value.Reshape(keptShape);
            var gk = _keepDim ? g : g.Reshape(keptShape);
            var mask = Equal(x, y.Detach());                        // constant: where x attains the extremum
            var count = mask.ReduceRaw(ReduceOp.Sum, _dims, keepDim: true);
            return [gk * (mask / count)];
        }
    }
}
