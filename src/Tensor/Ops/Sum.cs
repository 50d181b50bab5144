using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>Sum over <paramref name="dims"/> (all dims when null). ∂/∂x = g broadcast back over the summed dims.</summary>
    public Tensor Sum(int[]? dims = null, bool keepDim = false)
    {
        var nd = ShapeUtil.NormalizeDims("sum", dims, _shape);
        var y = ReduceRaw(ReduceOp.Sum, nd, keepDim);
        return ShouldRecord(this) ? y.WithGradFn(new SumBackward(this, nd, keepDim)) : y;
    }

    /// <summary>Sum over one dim.</summary>
    public Tensor Sum(int dim, bool keepDim = false) => Sum([dim], keepDim);

    /// <summary>
    /// Sums this tensor down to <paramref name="shape"/>, the shape it was broadcast from: leading dims are summed
    /// away and dims where <paramref name="shape"/> has 1 are summed with keepdim. The inverse of
    /// <see cref="Expand"/> for gradients.
    /// </summary>
    public Tensor SumTo(ReadOnlySpan<int> shape)
    {
        if (ShapeUtil.SameShape(_shape, shape)) return this;
        int lead = Rank - shape.Length;
        if (lead < 0)
            throw new ArgumentException($"sum_to: cannot sum shape {ShapeUtil.Format(_shape)} to the larger rank of {ShapeUtil.Format(shape)}");
        var dims = new List<int>();
        for (int i = 0; i < Rank; i++)
        {
            if (i < lead) dims.Add(i);
            else if (shape[i - lead] == 1 && _shape[i] != 1) dims.Add(i);
            else if (shape[i - lead] != _shape[i])
                throw new ArgumentException($"sum_to: shape {ShapeUtil.Format(_shape)} was not broadcast from {ShapeUtil.Format(shape)}");
        }
        var summed = dims.Count > 0 ? Sum([.. dims], keepDim: true) : this;
        return summed.Reshape(shape.ToArray());
    }

    private sealed class SumBackward(Tensor x, int[] dims, bool keepDim) : GradNode("sum", x)
    {
        private readonly int[] _xShape = x.ShapeArray();

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var gk = keepDim ? g : g.Reshape(ShapeUtil.Reduced(_xShape, dims, keepDim: true));
            return [gk.Expand(_xShape)];
        }
    }
}
