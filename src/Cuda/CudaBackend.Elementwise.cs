using Ttt.Backends;
using Ttt.Cuda.Kernels;

namespace Ttt.Cuda;

// Unary, Binary, Where: ptx/elementwise.cu. One thread per element (grid-stride), operands merged by LaunchLayout.
public sealed partial class CudaBackend
{
    /// <inheritdoc/>
    public void Unary(UnaryOp op, Tensor x, Tensor y, double a, double b)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.DType == DType.Int64 && !IsIntUnary(op))
            throw new NotSupportedException($"{op} is not defined for int64 tensors");
        long n = y.Numel;
        if (n == 0) return;
        var (s, st) = LaunchLayout.Build(y.Shape, LaunchLayout.Of(x), LaunchLayout.Of(y));
        CudaDevice.Launch(KernelCatalog.Unary[x.DType], Grid(n), 1, ElementwiseBlock,
            Base(x, "unary"), Base(y, "unary"), s, st[0], st[1], (int)op, a, b);
    }

    /// <summary>The unary primitives defined on int64 (as ScalarMath.UnaryInt).</summary>
    private static bool IsIntUnary(UnaryOp op) => op is UnaryOp.Neg or UnaryOp.Abs or UnaryOp.Sign or UnaryOp.Square
        or UnaryOp.Relu or UnaryOp.Affine or UnaryOp.Clamp or UnaryOp.GreaterThanScalar or UnaryOp.LessThanScalar
        or UnaryOp.EqualScalar;

    /// <inheritdoc/>
    public void Binary(BinaryOp op, Tensor a, Tensor b, Tensor y)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(y);
        bool ints = a.DType == DType.Int64;
        if (ints && op == BinaryOp.Pow) throw new NotSupportedException($"{op} is not defined for int64 tensors");
        long n = y.Numel;
        if (n == 0) return;
        var (s, st) = LaunchLayout.Build(y.Shape, LaunchLayout.Of(a), LaunchLayout.Of(b), LaunchLayout.Of(y));
        var spec = KernelCatalog.Binary[a.DType];
        if (ints && op == BinaryOp.Div)
        {
            // Integer division by zero is an error (as in the reference): the kernel flags it, the host throws.
            using var status = new StatusWord(CudaDevice);
            CudaDevice.Launch(spec, Grid(n), 1, ElementwiseBlock,
                Base(a, "div"), Base(b, "div"), Base(y, "div"), s, st[0], st[1], st[2], (int)op, status.Pointer);
            if (status.Read() != 0) throw new DivideByZeroException("div: integer division by zero in an int64 tensor");
            return;
        }
        CudaDevice.Launch(spec, Grid(n), 1, ElementwiseBlock,
            Base(a, "binary"), Base(b, "binary"), Base(y, "binary"), s, st[0], st[1], st[2], (int)op, DevicePtr.Null);
    }

    /// <inheritdoc/>
    public void Where(Tensor cond, Tensor a, Tensor b, Tensor y)
    {
        ArgumentNullException.ThrowIfNull(cond);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(y);
        long n = y.Numel;
        if (n == 0) return;
        var (s, st) = LaunchLayout.Build(y.Shape, LaunchLayout.Of(cond), LaunchLayout.Of(a), LaunchLayout.Of(b), LaunchLayout.Of(y));
        CudaDevice.Launch(KernelCatalog.Where[y.DType], Grid(n), 1, ElementwiseBlock,
            Base(cond, "where"), TypeCode(cond.DType), Base(a, "where"), Base(b, "where"), Base(y, "where"),
            s, st[0], st[1], st[2], st[3]);
    }
}
