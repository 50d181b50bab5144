namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// The slices at positions <paramref name="index"/> (1-D int64) along <paramref name="dim"/>.
    /// ∂/∂x = zeros.IndexAdd(dim, index, g) (repeated indices accumulate).
    /// </summary>
    public Tensor IndexSelect(int dim, Tensor index)
    {
        ArgumentNullException.ThrowIfNull(index);
        int d = ShapeUtil.NormalizeDim("index_select", dim, Rank, _shape);
        if (index.Rank != 1) throw new ArgumentException($"index_select: index must be 1-D, got shape {ShapeUtil.Format(index._shape)}");
        CheckIndexTensor("index_select", index, d, _shape, sameRank: false);
        var shape = ShapeArray();
        shape[d] = index._shape[0];
        var y = Empty(shape, DType, Device);
        Backend.IndexSelect(this, d, index, y);
        return ShouldRecord(this) ? y.WithGradFn(new IndexSelectBackward(this, d, index)) : y;
    }

    /// <summary>
    /// A copy of this tensor with src's slices added at positions <paramref name="index"/> along dim.
    /// ∂/∂self = g, ∂/∂src = g.IndexSelect(dim, index).
    /// </summary>
    public Tensor IndexAdd(int dim, Tensor index, Tensor src)
    {
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(src);
        int d = ShapeUtil.NormalizeDim("index_add", dim, Rank, _shape);
        CheckCompatible("index_add", src);
        if (index.Rank != 1) throw new ArgumentException($"index_add: index must be 1-D, got shape {ShapeUtil.Format(index._shape)}");
        var expected = ShapeArray();
        expected[d] = index._shape[0];
        if (!ShapeUtil.SameShape(expected, src._shape))
            throw new ArgumentException($"index_add: src has shape {ShapeUtil.Format(src._shape)}, expected {ShapeUtil.Format(expected)} for input {ShapeUtil.Format(_shape)} and {index._shape[0]} indices");
        CheckIndexTensor("index_add", index, d, _shape, sameRank: false);
        var y = ContiguousRaw();
        Backend.IndexAdd(y, d, index, src);
        return ShouldRecord(this, src) ? y.WithGradFn(new IndexAddBackward(this, src, d, index)) : y;
    }

    /// <summary>
    /// Embedding lookup: rows of this [V, D] table at int64 <paramref name="ids"/> of any shape → [..ids, D].
    /// Its backward is a scatter-add of the gradient rows into the table.
    /// </summary>
    public Tensor Embedding(Tensor ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (Rank != 2) throw new ArgumentException($"embedding: the table must be [V, D], got shape {ShapeUtil.Format(_shape)}");
        var flat = ids.Reshape(-1);
        var rows = IndexSelect(0, flat.IsContiguous ? flat : flat.Contiguous());
        return rows.Reshape([.. ids._shape, _shape[1]]);
    }

    private sealed class IndexSelectBackward(Tensor x, int dim, Tensor index) : GradNode("index_select", x)
    {
        private readonly int[] _xShape = x.ShapeArray();
        private readonly Tensor _index = index.Detach();

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) =>
            [Zeros(_xShape, g.DType, g.Device).IndexAdd(dim, _index, g)];
    }

    private sealed class IndexAddBackward(Tensor self, Tensor src, int dim, Tensor index) : GradNode("index_add", self, src)
    {
        private readonly Tensor _index = index.Detach();

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) =>
            [needs[0] ? g : null, needs[1] ? g.IndexSelect(dim, _index) : null];
    }
}
