namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// Elements [start, start+length) along <paramref name="dim"/> (a view). ∂/∂x = g zero-padded back to the
    /// input's size (<see cref="Pad"/>), whose own gradient is this narrow again.
    /// </summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        int d = ShapeUtil.NormalizeDim("narrow", dim, Rank, _shape);
        if (start < 0) start += _shape[d];
        if (start < 0 || length < 0 || start + length > _shape[d])
            throw new ArgumentOutOfRangeException(nameof(start), $"narrow: range [{start}, {start + length}) is outside dim {d} of shape {ShapeUtil.Format(_shape)}");
        if (start == 0 && length == _shape[d]) return this;
        var shape = ShapeArray();
        shape[d] = length;
        var y = ViewRaw(shape, (long[])_strides.Clone(), Offset + start * _strides[d]);
        return ShouldRecord(this) ? y.WithGradFn(new NarrowBackward(this, d, start)) : y;
    }

    /// <summary>Python-style slice [start, end) along a dim; negative bounds count from the end.</summary>
    public Tensor Slice(int dim, int start, int end)
    {
        int d = ShapeUtil.NormalizeDim("slice", dim, Rank, _shape);
        int n = _shape[d];
        int s = Math.Clamp(start < 0 ? start + n : start, 0, n), e = Math.Clamp(end < 0 ? end + n : end, 0, n);
        return Narrow(d, s, Math.Max(0, e - s));
    }

    /// <summary>The slice at <paramref name="index"/> along <paramref name="dim"/>, with that dim removed (a view).</summary>
    public Tensor Select(int dim, int index)
    {
        int d = ShapeUtil.NormalizeDim("select", dim, Rank, _shape);
        int i = index < 0 ? index + _shape[d] : index;
        if (i < 0 || i >= _shape[d])
            throw new ArgumentOutOfRangeException(nameof(index), $"select: index {index} is out of range for dim {d} of shape {ShapeUtil.Format(_shape)}");
        return Narrow(d, i, 1).Squeeze(d);
    }

    private sealed class NarrowBackward(Tensor x, int dim, int start) : GradNode("narrow", x)
    {
        private readonly int _size = x.Shape[dim];

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) =>
            [g.Pad(dim, start, _size - start - g.Shape[dim])];
    }
}
