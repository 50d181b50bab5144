namespace Ttt.Cuda.Memory;

/// <summary>
/// Raw device memory as the caching allocator sees it: allocate, free, ask how much is free, wait for the device.
/// The CUDA implementation calls the driver; tests substitute an in-memory fake to check the allocator's
/// bookkeeping without a GPU.
/// </summary>
internal interface IDeviceMemory
{
    /// <summary>Allocates <paramref name="bytes"/> bytes; returns 0 when the device is out of memory (other errors throw).</summary>
    ulong TryAllocate(long bytes);

    /// <summary>Frees an allocation made by <see cref="TryAllocate"/>.</summary>
    void Free(ulong pointer);

    /// <summary>Free and total device memory in bytes.</summary>
    (long Free, long Total) GetInfo();

    /// <summary>Waits until all work queued on the device's stream is done (before memory goes back to the driver).</summary>
    void Synchronize();

    /// <summary>Name of the device for messages ("cuda:0 (NVIDIA H200)").</summary>
    string DeviceName { get; }
}
