using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ttt.Cpu;

/// <summary>
/// Host storage: a pinned managed array whose first element is 64-byte aligned. Pinned (on the pinned object heap)
/// so that native code and device copies may take its address; managed so that the garbage collector frees it when
/// no tensor refers to it. Kernels address it through <c>ref</c>s, which keep it alive while they run.
/// </summary>
public sealed class CpuStorage : Storage
{
    private const int AlignBytes = 64;
    private readonly Array _array;
    private readonly int _start; // element index of the aligned first element inside _array

    private CpuStorage(DType dtype, long length, Array array, int start) : base(dtype, length)
    {
        _array = array;
        _start = start;
    }

    /// <inheritdoc/>
    public override Device Device => Device.Cpu;

    /// <inheritdoc/>
    public override IBackend Backend => CpuBackends.Current;

    /// <summary>Allocates <paramref name="length"/> elements, zero-filled when <paramref name="zero"/> is set.</summary>
    public static CpuStorage Allocate(DType dtype, long length, bool zero = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length > Array.MaxLength - AlignBytes)
            throw new InsufficientMemoryException($"a CPU tensor of {length:N0} {dtype.Name()} elements ({Bytes(length * dtype.SizeOf())}) exceeds the largest supported storage ({Array.MaxLength - AlignBytes:N0} elements)");
        long bytes = length * dtype.SizeOf();
        if (bytes > 1L << 28)
        {
            // Large requests are checked against the memory the runtime can still use, so that an absurd size
            // fails with a clear message instead of an out-of-memory crash or swapping.
            var info = GC.GetGCMemoryInfo();
            long available = info.TotalAvailableMemoryBytes - GC.GetTotalMemory(false);
            if (bytes > available)
                throw new InsufficientMemoryException($"a CPU tensor of {length:N0} {dtype.Name()} elements needs {Bytes(bytes)}, but only {Bytes(Math.Max(available, 0))} of memory is available");
        }
        return dtype switch
        {
            DType.Float32 => Create<float>(length, zero),
            DType.Float64 => Create<double>(length, zero),
            DType.Int64 => Create<long>(length, zero),
            _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
        };
    }

    private static string Bytes(long b) => b >= 1L << 30 ? $"{b / (double)(1L << 30):F2} GiB" : b >= 1L << 20 ? $"{b / (double)(1L << 20):F1} MiB" : $"{b:N0} bytes";

    private static unsafe CpuStorage Create<T>(long length, bool zero) where T : unmanaged
    {
        int pad = AlignBytes / sizeof(T);
        bool pooled = CpuBufferPool.Pools(length + pad, sizeof(T));
        T[]? array = null;
        int arrayLength = (int)length + pad;
        if (pooled)
        {
            arrayLength = CpuBufferPool.SizeClass(length + pad);
            array = CpuBufferPool.Rent<T>(arrayLength);
        }
        bool reused = array is not null;
        array ??= zero
            ? GC.AllocateArray<T>(arrayLength, pinned: true)
            : GC.AllocateUninitializedArray<T>(arrayLength, pinned: true);
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        int misalign = (int)(address % AlignBytes);
        int start = misalign == 0 ? 0 : (AlignBytes - misalign) / sizeof(T);
        var storage = new CpuStorage(DTypes.Of<T>(), length, array, start);
        if (reused && zero) storage.Span<T>().Clear();
        // Only pooled storages hand their array back from the finalizer; the rest need no finalization.
        if (!pooled) GC.SuppressFinalize(storage);
        return storage;
    }

    /// <summary>Gives a pooled array back to <see cref="CpuBufferPool"/> once no tensor can reach this storage.</summary>
    ~CpuStorage()
    {
        CpuBufferPool.Return(_array, DType.SizeOf());
    }

    /// <summary>A reference to element 0 (typed; <typeparamref name="T"/> must match the dtype).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref T Ref<T>() where T : unmanaged
    {
        CheckType<T>();
        return ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(Unsafe.As<T[]>(_array)), _start);
    }

    /// <summary>The elements as a span.</summary>
    public Span<T> Span<T>() where T : unmanaged => MemoryMarshal.CreateSpan(ref Ref<T>(), (int)Length);

    /// <summary>The address of element 0 (the storage is pinned; keep the storage alive while using it).</summary>
    public unsafe nint Pointer => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array)) + _start * DType.SizeOf();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckType<T>() where T : unmanaged
    {
        if (_array is not T[])
            ThrowType(typeof(T));
    }

    private void ThrowType(Type t) =>
        throw new InvalidOperationException($"storage holds {DType.Name()} elements, not {t.Name}");

    /// <inheritdoc/>
    protected override void Release()
    {
        // Managed memory: the collector frees it once unreachable. Nothing to do eagerly.
    }
}
