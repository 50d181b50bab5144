using Ttt.Backends;
using Ttt.Cuda.Kernels;

namespace Ttt.Cuda;

// Reduce, ArgReduce: ptx/reduce.cu. The dims of x split into kept dims (one output each) and reduced dims; each
// group is merged separately. Long reductions over few outputs use one block per output; many short ones use one
// thread per output (adjacent outputs read adjacent memory when the kept dims are inner).
public sealed partial class CudaBackend
{
    /// <inheritdoc/>
    public void Reduce(ReduceOp op, Tensor x, ReadOnlySpan<int> dims, Tensor y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (y.Numel == 0) return;
        var reduced = new bool[x.Rank];
        foreach (var d in dims) reduced[d] = true;
        var kept = Enumerable.Range(0, x.Rank).Where(d => !reduced[d]).ToArray();
        var red = Enumerable.Range(0, x.Rank).Where(d => reduced[d]).ToArray();
        var (outs, o) = LaunchLayout.Build(Pick(x.Shape, kept), (Pick(x.Strides, kept), x.Offset), (Pick(y.Strides, kept), y.Offset));
        var (reds, r) = LaunchLayout.Build(Pick(x.Shape, red), (Pick(x.Strides, red), 0L));
        bool perThread = UseThreadPerOutput(outs, o[0], reds.Numel);
        var spec = perThread ? KernelCatalog.ReduceThread[x.DType] : KernelCatalog.ReduceBlock[x.DType];
        int block = perThread ? ElementwiseBlock : Math.Min(RowBlock(reds.Numel), 512);
        int grid = perThread ? Grid(outs.Numel) : (int)Math.Min(outs.Numel, CudaDevice.MultiprocessorCount * 16L);
        CudaDevice.Launch(spec, grid, 1, block, Base(x, "reduce"), Base(y, "reduce"), outs, o[0], o[1], reds, r[0], (int)op);
    }

    /// <inheritdoc/>
    public void ArgReduce(ArgReduceOp op, Tensor x, int dim, Tensor y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (y.Numel == 0) return;
        var kept = Enumerable.Range(0, x.Rank).Where(d => d != dim).ToArray();
        var (outs, o) = LaunchLayout.Build(Pick(x.Shape, kept), (Pick(x.Strides, kept), x.Offset), (Pick(y.Strides, kept), y.Offset));
        long len = x.Shape[dim], stride = x.Strides[dim];
        bool perThread = UseThreadPerOutput(outs, o[0], len);
        var spec = perThread ? KernelCatalog.ArgReduceThread[x.DType] : KernelCatalog.ArgReduceBlock[x.DType];
        int block = perThread ? ElementwiseBlock : Math.Min(RowBlock(len), 512);
        int grid = perThread ? Grid(outs.Numel) : (int)Math.Min(outs.Numel, CudaDevice.MultiprocessorCount * 16L);
        CudaDevice.Launch(spec, grid, 1, block, Base(x, "argreduce"), Base(y, "argreduce"), outs, o[0], o[1], len, stride, (int)op);
    }

    /// <summary>
    /// One thread per output for short reductions, or when there are enough outputs to fill the GPU and neighbouring
    /// outputs read neighbouring elements (the kept dims are innermost in x, e.g. a sum over the batch), so a warp's
    /// loads coalesce. Otherwise (e.g. a sum over the last dim) one block per output reads its elements together.
    /// </summary>
    private bool UseThreadPerOutput(in Shape8 outs, in Strides8 xOut, long length)
    {
        if (length <= 32) return true;
        bool adjacent = outs.Rank > 0 && xOut.Stride[outs.Rank - 1] == 1;
        return adjacent && outs.Numel >= CudaDevice.MultiprocessorCount * 128L && length <= 4096;
    }

    /// <inheritdoc/>
    public void Softmax(Tensor x, Tensor y, bool log)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (y.Numel == 0) return;
        if (!y.IsContiguous)
        {
            // The contract gives a contiguous y; keep a strided one correct anyway.
            var tmp = Tensor.Empty(y.Shape, y.DType, Device);
            try
            {
                Softmax(x, tmp, log);
                Copy(tmp, y);
            }
            finally
            {
                tmp.Storage.Dispose();
            }
            return;
        }
        int rank = x.Rank;
        long len = x.Shape[rank - 1], stride = x.Strides[rank - 1];
        var rowDims = Enumerable.Range(0, rank - 1).ToArray();
        var (rows, xr) = LaunchLayout.Build(Pick(x.Shape, rowDims), (Pick(x.Strides, rowDims), x.Offset));
        int grid = (int)Math.Min(rows.Numel, CudaDevice.MultiprocessorCount * 16L);
        CudaDevice.Launch(KernelCatalog.Softmax[x.DType], grid, 1, RowBlock(len),
            Base(x, "softmax"), First(y, "softmax"), rows, xr[0], len, stride, log ? 1 : 0);
    }
}
