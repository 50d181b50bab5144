using Ttt.Cuda.Kernels;
using Ttt.Cuda.Memory;

namespace Ttt.Cuda;

/// <summary>
/// Device memory holding a tensor's elements: a block of the device's <see cref="CachingAllocator"/>.
/// <see cref="Storage.Dispose()"/> gives the block back to the allocator's cache at once; a storage that is never
/// disposed gives it back from its finalizer once no tensor refers to it (the op layer does not dispose
/// intermediate results, so the finalizer is the normal path for them, and the allocator collects garbage before
/// it reports out-of-memory).
/// </summary>
public sealed class CudaStorage : Storage
{
    private readonly CudaBackend _backend;
    private DeviceBlock? _block;

    internal CudaStorage(CudaBackend backend, DType dtype, long length, DeviceBlock? block) : base(dtype, length)
    {
        _backend = backend;
        _block = block;
    }

    /// <summary>Returns the block to the allocator if the storage was never disposed.</summary>
    ~CudaStorage()
    {
        Dispose();
    }

    /// <inheritdoc/>
    public override Device Device => _backend.Device;

    /// <inheritdoc/>
    public override IBackend Backend => _backend;

    /// <summary>Device address of element 0 (the null pointer for an empty storage).</summary>
    /// <exception cref="ObjectDisposedException">The storage was disposed.</exception>
    public DevicePtr Pointer
    {
        get
        {
            ThrowIfDisposed();
            return new DevicePtr(_block?.Pointer ?? 0);
        }
    }

    /// <inheritdoc/>
    protected override void Release()
    {
        var block = Interlocked.Exchange(ref _block, null);
        if (block is not null) _backend.CudaDevice.Allocator.Return(block);
    }
}
