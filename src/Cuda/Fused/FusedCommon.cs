using Ttt.Cuda.Kernels;

namespace Ttt.Cuda.Fused;

/// <summary>Checks and conversions shared by the fused launchers.</summary>
internal static class FusedCommon
{
    /// <summary>The CUDA backend of <paramref name="t"/>, or an error naming the op.</summary>
    public static CudaBackend Backend(string op, Tensor t) =>
        t.Backend as CudaBackend ?? throw new ArgumentException($"{op}: expected a tensor on a CUDA device, got one on {t.Device}");

    /// <summary><paramref name="t"/> itself when dense row-major, else a dense copy (never recorded by autograd).</summary>
    public static Tensor Dense(Tensor t) => t.IsContiguous ? t : t.Detach().Contiguous();

    /// <summary>Checks that <paramref name="t"/> is on <paramref name="backend"/>'s device with dtype <paramref name="dtype"/>.</summary>
    public static void Same(string op, string name, Tensor t, CudaBackend backend, DType dtype)
    {
        if (t.Device != backend.Device)
            throw new ArgumentException($"{op}: {name} is on {t.Device}, expected {backend.Device}");
        if (t.DType != dtype)
            throw new ArgumentException($"{op}: {name} is {t.DType.Name()}, expected {dtype.Name()}");
    }

    /// <summary>Checks a float32/float64 dtype.</summary>
    public static void Float(string op, Tensor t)
    {
        if (!t.DType.IsFloatingPoint())
            throw new ArgumentException($"{op}: expected a float32 or float64 tensor, got {t.DType.Name()} {ShapeUtil.Format(t.Shape)}");
    }

    /// <summary>Checks a 1-D tensor of <paramref name="length"/> elements.</summary>
    public static void Vector(string op, string name, Tensor? t, long length)
    {
        if (t is not null && (t.Rank != 1 || t.Shape[0] != length))
            throw new ArgumentException($"{op}: {name} must have shape [{length}], got {ShapeUtil.Format(t.Shape)}");
    }

    /// <summary>
    /// The (gridX, gridY, rowsPerChunk) of a column-parallel kernel: one thread per column, grid.y splitting the
    /// rows into chunks so that the whole GPU takes part even for few columns.
    /// </summary>
    public static (int GridX, int GridY, long RowsPerChunk) ColumnGrid(CudaBackend backend, long columns, long rows)
    {
        int gridX = (int)Math.Max(1, (columns + CudaBackend.StandardBlock - 1) / CudaBackend.StandardBlock);
        long wanted = Math.Max(1, backend.CudaDevice.MultiprocessorCount * 8L / gridX);
        long maxChunks = Math.Max(1, (rows + 31) / 32); // at least 32 rows per chunk
        int gridY = (int)Math.Clamp(Math.Min(wanted, maxChunks), 1, 65535);
        long perChunk = Math.Max(1, (rows + gridY - 1) / gridY);
        gridY = (int)Math.Max(1, (rows + perChunk - 1) / perChunk);
        return (gridX, gridY, perChunk);
    }

    /// <summary>Grid of a one-block-per-row kernel.</summary>
    public static int RowGrid(CudaBackend backend, long rows) => (int)Math.Clamp(rows, 1, backend.CudaDevice.MultiprocessorCount * 16L);

    /// <summary>Launches through the backend's device.</summary>
    public static void Launch(CudaBackend backend, KernelSpec spec, int gridX, int gridY, int block, params ReadOnlySpan<KernelArg> args) =>
        backend.CudaDevice.Launch(spec, gridX, gridY, block, args);
}
