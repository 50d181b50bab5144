using Ttt.Cuda.Kernels;

namespace Ttt.Cuda;

// IndexSelect, IndexAdd, Gather, ScatterAdd: ptx/index.cu; Triangle: ptx/triangle.cu. The kernels recover the
// coordinate along `dim` from the linear index, so the iteration shape may be merged like any element-wise launch.
public sealed partial class CudaBackend
{
    /// <inheritdoc/>
    public void IndexSelect(Tensor x, int dim, Tensor index, Tensor y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(y);
        long n = y.Numel;
        if (n == 0) return;
        var (s, st) = LaunchLayout.Build(y.Shape, LaunchLayout.Of(y), LaunchLayout.Of(x));
        CudaDevice.Launch(KernelCatalog.IndexSelect[x.DType], Grid(n), 1, ElementwiseBlock,
            Base(x, "index_select"), Base(index, "index_select"), Base(y, "index_select"), s, st[0], st[1],
            Product(y.Shape[(dim + 1)..]), (long)y.Shape[dim], x.Strides[dim], index.Offset, index.Strides[0]);
    }

    /// <inheritdoc/>
    public void IndexAdd(Tensor y, int dim, Tensor index, Tensor src)
    {
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(src);
        long n = src.Numel;
        if (n == 0) return;
        var (s, st) = LaunchLayout.Build(src.Shape, LaunchLayout.Of(src), LaunchLayout.Of(y));
        CudaDevice.Launch(KernelCatalog.IndexAdd[y.DType], Grid(n), 1, ElementwiseBlock,
            Base(y, "index_add"), Base(index, "index_add"), Base(src, "index_add"), s, st[0], st[1],
            Product(src.Shape[(dim + 1)..]), (long)src.Shape[dim], y.Strides[dim], index.Offset, index.Strides[0]);
    }

    /// <inheritdoc/>
    public void Gather(Tensor x, int dim, Tensor index, Tensor y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(y);
        long n = y.Numel;
        if (n == 0) return;
        var (s, st) = LaunchLayout.Build(y.Shape, LaunchLayout.Of(y), LaunchLayout.Of(index), LaunchLayout.Of(x));
        CudaDevice.Launch(KernelCatalog.Gather[x.DType], Grid(n), 1, ElementwiseBlock,
            Base(x, "gather"), Base(index, "gather"), Base(y, "gather"), s, st[0], st[1], st[2],
            Product(y.Shape[(dim + 1)..]), (long)y.Shape[dim], x.Strides[dim]);
    }

    /// <inheritdoc/>
    public void ScatterAdd(Tensor y, int dim, Tensor index, Tensor src)
    {
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(src);
        long n = src.Numel;
        if (n == 0) return;
        var (s, st) = LaunchLayout.Build(src.Shape, LaunchLayout.Of(src), LaunchLayout.Of(index), LaunchLayout.Of(y));
        CudaDevice.Launch(KernelCatalog.ScatterAdd[y.DType], Grid(n), 1, ElementwiseBlock,
            Base(y, "scatter_add"), Base(index, "scatter_add"), Base(src, "scatter_add"), s, st[0], st[1], st[2],
            Product(src.Shape[(dim + 1)..]), (long)src.Shape[dim], y.Strides[dim]);
    }

    /// <inheritdoc/>
    public void Triangle(Tensor x, Tensor y, int diagonal, bool upper)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        long n = y.Numel;
        if (n == 0) return;
        var (s, st) = LaunchLayout.Build(y.Shape, LaunchLayout.Of(x), LaunchLayout.Of(y));
        CudaDevice.Launch(KernelCatalog.Triangle[y.DType], Grid(n), 1, ElementwiseBlock,
            Base(x, "triangle"), Base(y, "triangle"), s, st[0], st[1],
            (long)y.Shape[^2], (long)y.Shape[^1], (long)diagonal, upper ? 1 : 0);
    }
}
