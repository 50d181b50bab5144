namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// Matrix product with NumPy semantics: 1-D·1-D is a dot product, a 1-D operand is treated as a row (left) or
    /// column (right) vector and that dim is removed from the result, and batch dims (all but the last two)
    /// broadcast. For a: [..., M, K], b: [..., K, N]: ∂/∂a = g·bᵀ, ∂/∂b = aᵀ·g (summed over broadcast batch dims).
    /// </summary>
    public static Tensor Matmul(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Rank == 0 || b.Rank == 0)
            throw new ArgumentException($"matmul: both operands need at least 1 dim, got {ShapeUtil.Format(a._shape)} and {ShapeUtil.Format(b._shape)}");
        if (a.Rank == 1 && b.Rank == 1) return MatmulNd(a.Unsqueeze(0), b.Unsqueeze(1)).Reshape([]);
        if (a.Rank == 1) return MatmulNd(a.Unsqueeze(0), b).Squeeze(-2);
        if (b.Rank == 1) return MatmulNd(a, b.Unsqueeze(1)).Squeeze(-1);
        return MatmulNd(a, b);
    }

    /// <summary>this · other (see <see cref="Matmul(Tensor, Tensor)"/>).</summary>
    public Tensor Matmul(Tensor other) => Matmul(this, other);

    private static Tensor MatmulNd(Tensor a, Tensor b)
    {
        a.CheckCompatible("matmul", b);
        a.CheckFloat("matmul");
        int m = a._shape[^2], k = a._shape[^1], k2 = b._shape[^2], n = b._shape[^1];
        if (k != k2)
            throw new ArgumentException($"matmul: shapes {ShapeUtil.Format(a._shape)} and {ShapeUtil.Format(b._shape)} are not aligned (inner dims {k} vs {k2})");
        var batch = ShapeUtil.Broadcast("matmul", a._shape[..^2], b._shape[..^2]);
        int[] outShape = [.. batch, m, n];
        var y = Empty(outShape, a.DType, a.Device);
        a.Backend.Matmul(a.ExpandRaw("matmul", [.. batch, m, k]), b.ExpandRaw("matmul", [.. batch, k, n]), y);
        return ShouldRecord(a, b) ? y.WithGradFn(new MatmulBackward(a, b)) : y;
    }

    private sealed class MatmulBackward : GradNode
    {
        private readonly SavedTensor? _a, _b;
        private readonly int[] _aShape, _bShape;
        private readonly bool _bColumnMajor;

        public MatmulBackward(Tensor a, Tensor b) : base("matmul", a, b)
        {
            (_aShape, _bShape) = (a.ShapeArray(), b.ShapeArray());
            if (b.RequiresGrad) _a = Save(a);
            if (a.RequiresGrad) _b = Save(b);
            // b = Wᵀ, the transposed view of a dense matrix W (x·Wᵀ of a linear layer)
            _bColumnMajor = a.Rank == 2 && b.Rank == 2 && b.StridesRef[0] == 1 && b.StridesRef[1] == b.ShapeRef[0] && b.ShapeRef[1] > 1;
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) =>
        [
            needs[0] ? MatmulNd(g, _b!.Value.MT).SumTo(_aShape) : null,
            needs[1] ? GradB(g) : null,
        ];

        /// <summary>
        /// dB = Aᵀ·g. When B is Wᵀ the same product is computed as (gᵀ·A)ᵀ: a transposed view of a dense [N, K],
        /// so the transpose's backward hands W a dense gradient instead of a view that must be copied.
        /// </summary>
        private Tensor GradB(Tensor g) =>
            _bColumnMajor && g.Rank == 2 ? Matmul(g.MT, _a!.Value).MT : MatmulNd(_a!.Value.MT, g).SumTo(_bShape);
    }
}
