namespace Ttt.Cuda.Memory;

/// <summary>A snapshot of a device's caching allocator.</summary>
/// <param name="AllocatedBytes">Bytes in blocks held by live storages (block sizes, after rounding to size classes).</param>
/// <param name="RequestedBytes">Bytes the live storages asked for (before rounding).</param>
/// <param name="CachedBytes">Bytes in free blocks kept for reuse.</param>
/// <param name="PeakAllocatedBytes">Largest <paramref name="AllocatedBytes"/> since the start or the last reset.</param>
/// <param name="PeakReservedBytes">Largest allocated + cached since the start or the last reset.</param>
/// <param name="Hits">Allocations served from the cache.</param>
/// <param name="Misses">Allocations that needed new device memory.</param>
/// <param name="DeviceAllocations">Calls to the driver's allocator (cuMemAlloc).</param>
/// <param name="DeviceFrees">Calls to the driver's free (cuMemFree): cache releases.</param>
/// <param name="ActiveBlocks">Blocks held by live storages.</param>
/// <param name="CachedBlocks">Free blocks in the cache.</param>
public sealed record CudaMemoryStats(
    long AllocatedBytes,
    long RequestedBytes,
    long CachedBytes,
    long PeakAllocatedBytes,
    long PeakReservedBytes,
    long Hits,
    long Misses,
    long DeviceAllocations,
    long DeviceFrees,
    int ActiveBlocks,
    int CachedBlocks)
{
    /// <summary>Bytes held from the driver: allocated + cached.</summary>
    public long ReservedBytes => AllocatedBytes + CachedBytes;

    /// <inheritdoc/>
    public override string ToString() =>
        $"allocated {CachingAllocator.FormatBytes(AllocatedBytes)} in {ActiveBlocks} blocks (peak {CachingAllocator.FormatBytes(PeakAllocatedBytes)}), " +
        $"cached {CachingAllocator.FormatBytes(CachedBytes)} in {CachedBlocks} blocks, reserved peak {CachingAllocator.FormatBytes(PeakReservedBytes)}, " +
        $"{Hits} hits / {Misses} misses, {DeviceAllocations} device allocations, {DeviceFrees} device frees";
}
