namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// The same elements with a new shape (one entry may be −1 and is inferred). A view without copying when the
    /// strides allow it (always for contiguous tensors), else a copy. ∂/∂x = g reshaped back.
    /// </summary>
    public Tensor Reshape(params int[] shape)
    {
        var target = InferShape("reshape", shape);
        if (ShapeUtil.SameShape(target, _shape)) return this;
        var strides = ViewStrides(target);
        Tensor y = strides is not null ? ViewRaw(target, strides, Offset) : ContiguousRaw().ViewRaw(target, ShapeUtil.ContiguousStrides(target), 0);
        return ShouldRecord(this) ? y.WithGradFn(new ReshapeBackward(this)) : y;
    }

    /// <summary>Like <see cref="Reshape"/> but throws instead of copying when no view is possible.</summary>
    public Tensor View(params int[] shape)
    {
        var target = InferShape("view", shape);
        if (ViewStrides(target) is null)
            throw new InvalidOperationException($"view: shape {ShapeUtil.Format(_shape)} with strides ({string.Join(", ", _strides)}) cannot be viewed as {ShapeUtil.Format(target)} without a copy; use Reshape or Contiguous");
        return Reshape(target);
    }

    /// <summary>Collapses dims [startDim, endDim] into one.</summary>
    public Tensor Flatten(int startDim = 0, int endDim = -1)
    {
        if (Rank == 0) return Reshape(1);
        int s = ShapeUtil.NormalizeDim("flatten", startDim, Rank, _shape), e = ShapeUtil.NormalizeDim("flatten", endDim, Rank, _shape);
        if (s > e) throw new ArgumentException($"flatten: start dim {startDim} is after end dim {endDim} for shape {ShapeUtil.Format(_shape)}");
        var shape = new List<int>();
        for (int i = 0; i < s; i++) shape.Add(_shape[i]);
        int n = 1;
        for (int i = s; i <= e; i++) n *= _shape[i];
        shape.Add(n);
        for (int i = e + 1; i < Rank; i++) shape.Add(_shape[i]);
        return Reshape([.. shape]);
    }

    private int[] InferShape(string op, int[] shape)
    {
        var target = (int[])shape.Clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < target.Length; i++)
        {
            if (target[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException($"{op}: only one dim may be -1 in {ShapeUtil.Format(shape)}");
                infer = i;
            }
            else if (target[i] < 0) throw new ArgumentException($"{op}: invalid size {target[i]} in {ShapeUtil.Format(shape)}");
            else known *= target[i];
        }
        long n = Numel;
        if (infer >= 0)
        {
            if (known == 0 || n % known != 0)
                throw new ArgumentException($"{op}: shape {ShapeUtil.Format(shape)} is invalid for a tensor of shape {ShapeUtil.Format(_shape)} ({n} elements)");
            target[infer] = (int)(n / known);
        }
        else if (known != n)
            throw new ArgumentException($"{op}: shape {ShapeUtil.Format(shape)} ({known} elements) is invalid for a tensor of shape {ShapeUtil.Format(_shape)} ({n} elements)");
        return target;
    }

    /// <summary>
    /// Strides that view the current elements as <paramref name="target"/>, or null if a copy is needed. Old dims
    /// are grouped, from the innermost, into chunks that are contiguous among themselves; each chunk must be split
    /// exactly by a run of target dims.
    /// </summary>
    private long[]? ViewStrides(int[] target)
    {
        if (IsContiguous || Numel == 0) return ShapeUtil.ContiguousStrides(target);
        var result = new long[target.Length];
        int viewD = target.Length - 1;
        long chunkBaseStride = _strides[^1];
        long tensorNumel = 1, viewNumel = 1;
        for (int d = Rank - 1; d >= 0; d--)
        {
            tensorNumel *= _shape[d];
            bool chunkEnds = d == 0 || (_shape[d - 1] != 1 && _strides[d - 1] != tensorNumel * chunkBaseStride);
            if (!chunkEnds) continue;
            while (viewD >= 0 && (viewNumel < tensorNumel || target[viewD] == 1))
            {
                result[viewD] = viewNumel * chunkBaseStride;
                viewNumel *= target[viewD];
                viewD--;
            }
            if (viewNumel != tensorNumel) return null;
            if (d > 0)
            {
                chunkBaseStride = _strides[d - 1];
                tensorNumel = 1;
                viewNumel = 1;
            }
        }
        return viewD == -1 ? result : null;
    }

    private sealed class ReshapeBackward(Tensor x) : GradNode("reshape", x)
    {
        private readonly int[] _xShape = x.ShapeArray();

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g.Reshape(_xShape)];
    }
}
