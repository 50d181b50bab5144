namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// Adds <paramref name="before"/> and <paramref name="after"/> elements of <paramref name="value"/> along
    /// <paramref name="dim"/>. ∂/∂x = g narrowed back to the original range.
    /// </summary>
    public Tensor Pad(int dim, int before, int after, double value = 0)
    {
        int d = ShapeUtil.NormalizeDim("pad", dim, Rank, _shape);
        if (before < 0 || after < 0)
            throw new ArgumentOutOfRangeException(nameof(before), $"pad: negative padding ({before}, {after}) for shape {ShapeUtil.Format(_shape)}");
        if (before == 0 && after == 0) return this;
        var shape = ShapeArray();
        shape[d] += before + after;
        var y = value == 0 ? Zeros(shape, DType, Device) : Full(shape, value, DType, Device);
        var inner = y.ViewRaw(ShapeArray(), (long[])y._strides.Clone(), before * y._strides[d]);
        Backend.Copy(this, inner);
        return ShouldRecord(this) ? y.WithGradFn(new PadBackward(this, d, before)) : y;
    }

    private sealed class PadBackward(Tensor x, int dim, int before) : GradNode("pad", x)
    {
        private readonly int _length = x.Shape[dim];

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g.Narrow(dim, before, _length)];
    }
}
