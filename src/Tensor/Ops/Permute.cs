namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>Reorders dims (a view): result dim i is input dim perm[i]. ∂/∂x = g permuted by the inverse.</summary>
    public Tensor Permute(params int[] perm)
    {
        if (perm.Length != Rank)
            throw new ArgumentException($"permute: {perm.Length} dims given for a tensor of shape {ShapeUtil.Format(_shape)}");
        var p = new int[Rank];
        var seen = new bool[Rank];
        for (int i = 0; i < Rank; i++)
        {
            p[i] = ShapeUtil.NormalizeDim("permute", perm[i], Rank, _shape);
            if (seen[p[i]]) throw new ArgumentException($"permute: dim {perm[i]} repeated in ({string.Join(", ", perm)})");
            seen[p[i]] = true;
        }
        var shape = new int[Rank];
        var strides = new long[Rank];
        for (int i = 0; i < Rank; i++)
        {
            shape[i] = _shape[p[i]];
            strides[i] = _strides[p[i]];
        }
        var y = ViewRaw(shape, strides, Offset);
        return ShouldRecord(this) ? y.WithGradFn(new PermuteBackward(this, p)) : y;
    }

    /// <summary>Swaps two dims (a view).</summary>
    public Tensor Transpose(int dim0, int dim1)
    {
        int a = ShapeUtil.NormalizeDim("transpose", dim0, Rank, _shape), b = ShapeUtil.NormalizeDim("transpose", dim1, Rank, _shape);
        if (a == b) return this;
        var perm = Enumerable.Range(0, Rank).ToArray();
        (perm[a], perm[b]) = (perm[b], perm[a]);
        return Permute(perm);
    }

    /// <summary>Transpose of the last two dims (matrix transpose, batched).</summary>
    public Tensor MT => Transpose(-2, -1);

    private sealed class PermuteBackward(Tensor x, int[] perm) : GradNode("permute", x)
    {
        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var inverse = new int[perm.Length];
            for (int i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
            return [g.Permute(inverse)];
        }
    }
}
