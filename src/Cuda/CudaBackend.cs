using System.Runtime.InteropServices;
using Ttt.Backends;
using Ttt.Cuda.Kernels;
using Ttt.Cuda.Memory;

namespace Ttt.Cuda;

/// <summary>Precision of float32 matrix products on the GPU.</summary>
public enum MatmulPrecision
{
    /// <summary>Plain float32 (cublasSgemm): the default, the same math as the CPU up to summation order.</summary>
    Float32,
    /// <summary>Tensor cores with TF32 inputs (10-bit mantissa) and float32 accumulation (compute type 77). Opt-in.</summary>
    Tf32,
    /// <summary>Inputs rounded to bfloat16, float32 accumulation and output (cublasGemmEx, type 14). Opt-in.</summary>
    Bf16,
}

/// <summary>
/// The CUDA implementation of <see cref="IBackend"/> for one device: every primitive with the semantics of the CPU
/// reference (strided inputs with any strides including 0, dtype conversion in Copy, int64 where the contract says
/// so), computed by the precompiled kernels of ptx/ and, for Matmul, cuBLAS. All work is queued on the device's one
/// stream; copies to the host wait for it. Results are the reference's up to float rounding (different summation
/// order, float32 arithmetic for float32 tensors where the reference rounds double results).
/// </summary>
public sealed partial class CudaBackend : IBackend
{
    private const int ElementwiseBlock = 256;

    internal CudaBackend(CudaDevice device)
    {
        CudaDevice = device;
        Device = Device.Cuda(device.Ordinal);
    }

    /// <summary>The device this backend computes on.</summary>
    public CudaDevice CudaDevice { get; }

    /// <inheritdoc/>
    public Device Device { get; }

    /// <inheritdoc/>
    public string Name => Device.ToString();

    /// <summary>Precision of float32 matmuls (default <see cref="MatmulPrecision.Float32"/>).</summary>
    public MatmulPrecision MatmulPrecision { get; set; } = MatmulPrecision.Float32;

    /// <inheritdoc/>
    public Storage Allocate(DType dtype, long length, bool zero)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length == 0) return new CudaStorage(this, dtype, 0, null);
        long bytes = checked(length * dtype.SizeOf());
        var block = CudaDevice.Allocator.Allocate(bytes);
        var storage = new CudaStorage(this, dtype, length, block);
        if (zero) CudaDevice.MemsetBytes(new DevicePtr(block.Pointer), 0, bytes);
        return storage;
    }

    /// <inheritdoc/>
    public unsafe void CopyFromHost<T>(ReadOnlySpan<T> src, Storage dst, long dstOffset) where T : unmanaged
    {
        var s = Own(dst, "copy_from_host");
        CheckRange(s, DTypes.Of<T>(), dstOffset, src.Length, "copy_from_host");
        fixed (T* p = src)
            CudaDevice.CopyHostToDevice(s.Pointer.Add(dstOffset * sizeof(T)), p, (long)src.Length * sizeof(T));
    }

    /// <inheritdoc/>
    public unsafe void CopyToHost<T>(Storage src, long srcOffset, Span<T> dst) where T : unmanaged
    {
        var s = Own(src, "copy_to_host");
        CheckRange(s, DTypes.Of<T>(), srcOffset, dst.Length, "copy_to_host");
        fixed (T* p = dst)
            CudaDevice.CopyDeviceToHost(p, s.Pointer.Add(srcOffset * sizeof(T)), (long)dst.Length * sizeof(T));
    }

    private static void CheckRange(CudaStorage s, DType type, long offset, long count, string op)
    {
        if (type != s.DType)
            throw new ArgumentException($"{op}: the storage holds {s.DType.Name()} elements, not {type.Name()}");
        if (offset < 0 || offset + count > s.Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{op}: elements [{offset}, {offset + count}) are outside a storage of {s.Length}");
    }

    // ---------------------------------------------------------------- helpers shared by the partial files

    /// <summary>The CUDA storage of <paramref name="storage"/>, checked to be on this device and alive.</summary>
    private CudaStorage Own(Storage storage, string op)
    {
        if (storage is not CudaStorage s || s.Device != Device)
            throw new ArgumentException($"{op}: expected a tensor on {Device}, got one on {storage.Device}");
        s.ThrowIfDisposed();
        return s;
    }

    /// <summary>Device address of element 0 of the tensor's storage (kernels add the offset themselves).</summary>
    private DevicePtr Base(Tensor t, string op) => Own(t.Storage, op).Pointer;

    /// <summary>Device address of the tensor's first element (for kernels that take dense arrays).</summary>
    private DevicePtr First(Tensor t, string op) => Base(t, op).Add(t.Offset * t.DType.SizeOf());

    private int Grid(long n) => CudaDevice.GridFor(n, ElementwiseBlock);

    /// <summary>A zeroed 4-byte status word on the device that kernels set on errors; read once, then freed.</summary>
    internal sealed class StatusWord : IDisposable
    {
        private readonly CudaDevice _device;
        private DeviceBlock? _block;

        public StatusWord(CudaDevice device)
        {
            _device = device;
            _block = device.Allocator.Allocate(sizeof(int));
            device.MemsetBytes(Pointer, 0, sizeof(int));
        }

        public DevicePtr Pointer => new(_block?.Pointer ?? throw new ObjectDisposedException(nameof(StatusWord)));

        /// <summary>Waits for the queued work and returns the status (0 = fine).</summary>
        public unsafe int Read()
        {
            int v = 0;
            _device.CopyDeviceToHost(&v, Pointer, sizeof(int));
            return v;
        }

        public void Dispose()
        {
            var b = Interlocked.Exchange(ref _block, null);
            if (b is not null) _device.Allocator.Return(b);
        }
    }

    /// <summary>A raw scratch block on the device, returned to the cache on dispose (stream order keeps it safe).</summary>
    internal sealed class Scratch : IDisposable
    {
        private readonly CudaDevice _device;
        private DeviceBlock? _block;

        public Scratch(CudaDevice device, long bytes)
        {
            _device = device;
            _block = bytes > 0 ? device.Allocator.Allocate(bytes) : null;
        }

        public DevicePtr Pointer => new(_block?.Pointer ?? 0);

        public void Dispose()
        {
            var b = Interlocked.Exchange(ref _block, null);
            if (b is not null) _device.Allocator.Return(b);
        }
    }

    private static long[] Strides(Tensor t) => t.Strides.ToArray();

    private static long[] Pick(ReadOnlySpan<long> values, IEnumerable<int> dims)
    {
        var v = values.ToArray();
        return dims.Select(d => v[d]).ToArray();
    }

    private static int[] Pick(ReadOnlySpan<int> values, IEnumerable<int> dims)
    {
        var v = values.ToArray();
        return dims.Select(d => v[d]).ToArray();
    }

    private static long Product(ReadOnlySpan<int> sizes)
    {
        long p = 1;
        foreach (var s in sizes) p *= s;
        return p;
    }

    /// <summary>Threads per block for one block per row of <paramref name="length"/> elements (a multiple of 32).</summary>
    private static int RowBlock(long length)
    {
        if (length >= 16384) return 1024;
        int b = 32;
        while (b < length && b < 512) b <<= 1;
        return b;
    }

    private static int TypeCode(DType t) => t switch
    {
        DType.Float32 => 0,
        DType.Float64 => 1,
        _ => 2,
    };

    static CudaBackend()
    {
        // The kernel structs must have the C layout of ptx/common.cuh.
        if (Marshal.SizeOf<Shape8>() != 80 || Marshal.SizeOf<Strides8>() != 72)
            throw new InvalidOperationException("Shape8/Strides8 do not have the 80/72-byte layout the kernels expect");
    }
}

// Access for the fused launchers (src/Cuda/Fused), which call kernels directly on dense tensors.
public sealed partial class CudaBackend
{
    /// <summary>Device address of the first element of <paramref name="t"/> (checked to live on this device).</summary>
    internal DevicePtr FirstElement(Tensor t, string op) => First(t, op);

    /// <summary>Device address of the first element, or null for a missing optional input.</summary>
    internal DevicePtr FirstOrNull(Tensor? t, string op) => t is null ? DevicePtr.Null : First(t, op);

    /// <summary>Grid size for a grid-stride kernel over <paramref name="n"/> items with the standard block.</summary>
    internal int ElementwiseGrid(long n) => Grid(n);

    /// <summary>Threads per block for one block per row.</summary>
    internal static int RowBlockFor(long length) => RowBlock(length);

    /// <summary>Block size of element-wise kernels.</summary>
    internal const int StandardBlock = ElementwiseBlock;
}
