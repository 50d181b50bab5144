namespace Ttt;

/// <summary>
/// A flat buffer of elements of one <see cref="DType"/> on one device. Tensors are strided views over a storage;
/// several tensors (views) may share one storage. The storage carries the version counter that autograd uses to
/// detect in-place changes to tensors saved for backward.
/// </summary>
public abstract class Storage : IDisposable
{
    /// <summary>Creates a storage record.</summary>
    protected Storage(DType dtype, long length)
    {
        DType = dtype;
        Length = length;
    }

    /// <summary>Element type.</summary>
    public DType DType { get; }

    /// <summary>Number of elements.</summary>
    public long Length { get; }

    /// <summary>Size in bytes.</summary>
    public long ByteLength => Length * DType.SizeOf();

    /// <summary>Where the elements live.</summary>
    public abstract Device Device { get; }

    /// <summary>The backend that computes on this storage.</summary>
    public abstract IBackend Backend { get; }

    /// <summary>Incremented by every in-place write through any view of this storage.</summary>
    public int Version { get; private set; }

    /// <summary>True once <see cref="Dispose()"/> has released the memory.</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>Records an in-place modification.</summary>
    public void BumpVersion() => Version++;

    /// <summary>Throws <see cref="ObjectDisposedException"/> when the memory was released.</summary>
    public void ThrowIfDisposed()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
    }

    /// <summary>Releases the memory now (device memory is returned to its allocator).</summary>
    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        Release();
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the underlying memory; called once.</summary>
    protected abstract void Release();
}
