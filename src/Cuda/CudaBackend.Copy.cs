using Ttt.Cuda.Kernels;

namespace Ttt.Cuda;

// Copy (with dtype conversion) and Fill: ptx/copy.cu, or the driver's memcpy/memset when the views are dense.
public sealed partial class CudaBackend
{
    /// <inheritdoc/>
    public void Copy(Tensor src, Tensor dst)
    {
        ArgumentNullException.ThrowIfNull(src);
        ArgumentNullException.ThrowIfNull(dst);
        long n = dst.Numel;
        if (n == 0) return;
        var (s, st) = LaunchLayout.Build(dst.Shape, LaunchLayout.Of(src), LaunchLayout.Of(dst));
        if (src.DType == dst.DType && LaunchLayout.IsDense(s, st[0]) && LaunchLayout.IsDense(s, st[1]))
        {
            CudaDevice.CopyDeviceToDevice(First(dst, "copy"), First(src, "copy"), n * dst.DType.SizeOf());
            return;
        }
        CudaDevice.Launch(KernelCatalog.Copy(src.DType, dst.DType), Grid(n), 1, ElementwiseBlock,
            Base(src, "copy"), Base(dst, "copy"), s, st[0], st[1]);
    }

    /// <inheritdoc/>
    public void Fill(Tensor dst, double value)
    {
        ArgumentNullException.ThrowIfNull(dst);
        long n = dst.Numel;
        if (n == 0) return;
        var (s, st) = LaunchLayout.Build(dst.Shape, LaunchLayout.Of(dst));
        bool dense = LaunchLayout.IsDense(s, st[0]);
        switch (dst.DType)
        {
            case DType.Float32:
            {
                float f = (float)value;
                if (dense) CudaDevice.MemsetWords(First(dst, "fill"), BitConverter.SingleToUInt32Bits(f), n);
                else CudaDevice.Launch(KernelCatalog.FillF32, Grid(n), 1, ElementwiseBlock, Base(dst, "fill"), s, st[0], f);
                break;
            }
            case DType.Float64:
                if (dense && BitConverter.DoubleToInt64Bits(value) == 0) CudaDevice.MemsetBytes(First(dst, "fill"), 0, n * 8);
                else CudaDevice.Launch(KernelCatalog.FillF64, Grid(n), 1, ElementwiseBlock, Base(dst, "fill"), s, st[0], value);
                break;
            default:
            {
                long v = checked((long)value); // as the reference: a value outside int64 is an error
                if (dense && v == 0) CudaDevice.MemsetBytes(First(dst, "fill"), 0, n * 8);
                else CudaDevice.Launch(KernelCatalog.FillI64, Grid(n), 1, ElementwiseBlock, Base(dst, "fill"), s, st[0], v);
                break;
            }
        }
    }
}
