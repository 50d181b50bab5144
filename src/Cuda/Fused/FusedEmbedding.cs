using Ttt.Cuda.Kernels;
using static Ttt.Cuda.Fused.FusedCommon;

namespace Ttt.Cuda.Fused;

/// <summary>Fused embedding lookup (ptx/embedding.cu): ids int64 [...], table [V, D] → [..., D].</summary>
internal static class FusedEmbedding
{
    /// <summary>y[..., :] = table[ids[...], :].</summary>
    /// <exception cref="IndexOutOfRangeException">An id outside [0, V).</exception>
    public static Tensor Forward(Tensor ids, Tensor table)
    {
        const string Op = "fused_embedding";
        var (be, idd, td, n, vocab, dim) = Check(Op, ids, table);
        var y = Tensor.Empty([.. ids.Shape, (int)dim], table.DType, table.Device);
        if (n * dim == 0) return y;
        using var status = new CudaBackend.StatusWord(be.CudaDevice);
        Launch(be, KernelCatalog.EmbeddingForward[table.DType], be.ElementwiseGrid(n * dim), 1, CudaBackend.StandardBlock,
            be.FirstElement(idd, Op), be.FirstElement(td, Op), be.FirstElement(y, Op), n, dim, vocab, status.Pointer);
        if (status.Read() != 0)
            throw new IndexOutOfRangeException($"{Op}: an id is out of range for a table of {vocab} rows");
        return y;
    }

    /// <summary>dtable[v, :] = Σ over positions with ids = v of dy[..., :]; dy: [..., D]; returns [V, D].</summary>
    public static Tensor Backward(Tensor ids, Tensor dy, int vocab)
    {
        const string Op = "fused_embedding_backward";
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(dy);
        Float(Op, dy);
        var be = Backend(Op, dy);
        Same(Op, "ids", ids, be, DType.Int64);
        if (dy.Rank != ids.Rank + 1 || !ShapeUtil.SameShape(dy.Shape[..^1], ids.Shape))
            throw new ArgumentException($"{Op}: dy {ShapeUtil.Format(dy.Shape)} must be [..., D] over ids {ShapeUtil.Format(ids.Shape)}");
        long dim = dy.Shape[^1], n = ids.Numel;
        var dtable = Tensor.Zeros([vocab, (int)dim], dy.DType, dy.Device);
        if (n * dim == 0) return dtable;
        Launch(be, KernelCatalog.EmbeddingBackward[dy.DType], be.ElementwiseGrid(n * dim), 1, CudaBackend.StandardBlock,
            be.FirstElement(Dense(ids), Op), be.FirstElement(Dense(dy), Op), be.FirstElement(dtable, Op), n, dim, (long)vocab);
        return dtable;
    }

    private static (CudaBackend, Tensor, Tensor, long, long, long) Check(string op, Tensor ids, Tensor table)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(table);
        Float(op, table);
        var be = Backend(op, table);
        Same(op, "ids", ids, be, DType.Int64);
        if (table.Rank != 2) throw new ArgumentException($"{op}: table must be [V, D], got {ShapeUtil.Format(table.Shape)}");
        return (be, Dense(ids), Dense(table), ids.Numel, table.Shape[0], table.Shape[1]);
    }
}
