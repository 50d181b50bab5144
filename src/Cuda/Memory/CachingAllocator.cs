using System.Globalization;

namespace Ttt.Cuda.Memory;

/// <summary>A block of device memory handed out by <see cref="CachingAllocator"/>.</summary>
/// <param name="Pointer">Device address of the first byte.</param>
/// <param name="Size">Size of the block (the request rounded up to its size class).</param>
/// <param name="Requested">Bytes the caller asked for.</param>
internal sealed record DeviceBlock(ulong Pointer, long Size, long Requested);

/// <summary>
/// A caching allocator for one device. cuMemAlloc and cuMemFree are slow (they synchronise the device), and
/// training allocates the same sizes every step, so freed blocks are kept in per-size-class free lists and handed
/// out again. Size classes: multiples of 512 B below 1 MiB; above, four classes per power of two
/// (1, 1.25, 1.5, 1.75 × 2ᵏ), so at most 25 % of a large block is slack.
/// <para>Reuse is safe without events because all work of a device runs on one stream: a kernel that writes a
/// reused block is queued after every kernel that read it before it was freed.</para>
/// <para>When the device is out of memory the allocator frees its cache and retries, then collects garbage
/// (finalizers return the blocks of unreachable tensors) and retries again, and only then throws a
/// <see cref="CudaOutOfMemoryException"/> that says what was requested and what is free.</para>
/// Thread-safe: storages are released from the finalizer thread too.
/// </summary>
public sealed class CachingAllocator : IDisposable
{
    /// <summary>Granularity of small blocks, and the alignment of every block (cuMemAlloc aligns to 256 B or more).</summary>
    public const long SmallGranularity = 512;

    /// <summary>Requests of at least this size use the quarter-power-of-two classes.</summary>
    public const long LargeThreshold = 1L << 20;

    private readonly IDeviceMemory _memory;
    private readonly Dictionary<long, Stack<ulong>> _free = [];
    private readonly Lock _lock = new();
    private long _allocated, _requested, _cached, _peakAllocated, _peakReserved, _hits, _misses, _deviceAllocs, _deviceFrees;
    private int _active, _cachedBlocks;
    private bool _disposed;

    internal CachingAllocator(IDeviceMemory memory) => _memory = memory;

    /// <summary>The block size a request of <paramref name="bytes"/> is rounded up to.</summary>
    public static long RoundSize(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        if (bytes < LargeThreshold) return (bytes + SmallGranularity - 1) / SmallGranularity * SmallGranularity;
        int log = 63 - (int)long.LeadingZeroCount(bytes);     // 2^log ≤ bytes < 2^(log+1)
        long quarter = 1L << (log - 2);
        return (bytes + quarter - 1) / quarter * quarter;
    }

    /// <summary>Current statistics.</summary>
    public CudaMemoryStats Stats
    {
        get
        {
            lock (_lock)
                return new CudaMemoryStats(_allocated, _requested, _cached, _peakAllocated, _peakReserved, _hits, _misses,
                    _deviceAllocs, _deviceFrees, _active, _cachedBlocks);
        }
    }

    /// <summary>Starts the peak figures again from the current values.</summary>
    public void ResetPeaks()
    {
        lock (_lock)
        {
            _peakAllocated = _allocated;
            _peakReserved = _allocated + _cached;
        }
    }

    /// <summary>Allocates a block of at least <paramref name="bytes"/> bytes (&gt; 0).</summary>
    /// <exception cref="CudaOutOfMemoryException">The device has no room even after releasing the cache and collecting garbage.</exception>
    internal DeviceBlock Allocate(long bytes)
    {
        long size = RoundSize(bytes);
        // 1: the cache, else the driver; 2: the driver after releasing the cache; 3: after a full collection.
        for (int attempt = 0; attempt < 3; attempt++)
        {
            if (attempt == 2)
            {
                // Unreachable tensors still hold blocks until their finalizers run; run them (outside the lock:
                // finalizers take it) and look again.
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_free.TryGetValue(size, out var stack) && stack.Count > 0)
                {
                    ulong p = stack.Pop();
                    _cached -= size;
                    _cachedBlocks--;
                    _hits++;
                    return Hand(p, size, bytes);
                }
                if (attempt > 0) ReleaseCacheLocked();
                ulong q = _memory.TryAllocate(size);
                if (q != 0)
                {
                    _misses++;
                    _deviceAllocs++;
                    return Hand(q, size, bytes);
                }
            }
        }
        var (free, total) = _memory.GetInfo();
        var s = Stats;
        throw new CudaOutOfMemoryException(
            $"CUDA out of memory on {_memory.DeviceName}: tried to allocate {FormatBytes(size)} ({bytes.ToString(CultureInfo.InvariantCulture)} bytes requested); " +
            $"the device has {FormatBytes(free)} free of {FormatBytes(total)}; Ttt holds {FormatBytes(s.AllocatedBytes)} in live tensors " +
            $"(peak {FormatBytes(s.PeakAllocatedBytes)}) and the cache was released. Free tensors you no longer need (Storage.Dispose) or use smaller batches.")
        {
            RequestedBytes = size,
            FreeBytes = free,
        };
    }

    private DeviceBlock Hand(ulong pointer, long size, long requested)
    {
        _allocated += size;
        _requested += requested;
        _active++;
        _peakAllocated = Math.Max(_peakAllocated, _allocated);
        _peakReserved = Math.Max(_peakReserved, _allocated + _cached);
        return new DeviceBlock(pointer, size, requested);
    }

    /// <summary>Returns a block to the cache (called once per block, possibly from the finalizer thread).</summary>
    internal void Return(DeviceBlock block)
    {
        lock (_lock)
        {
            _allocated -= block.Size;
            _requested -= block.Requested;
            _active--;
            if (_disposed)
            {
                // The device was shut down; its context and memory are gone with it.
                return;
            }
            if (!_free.TryGetValue(block.Size, out var stack)) _free[block.Size] = stack = new Stack<ulong>();
            stack.Push(block.Pointer);
            _cached += block.Size;
            _cachedBlocks++;
        }
    }

    /// <summary>Gives every cached (free) block back to the driver. Blocks held by live tensors stay.</summary>
    public void EmptyCache()
    {
        lock (_lock)
        {
            if (_disposed) return;
            ReleaseCacheLocked();
        }
    }

    private void ReleaseCacheLocked()
    {
        if (_cachedBlocks == 0) return;
        _memory.Synchronize();
        foreach (var (_, stack) in _free)
        {
            while (stack.Count > 0)
            {
                _memory.Free(stack.Pop());
                _deviceFrees++;
            }
        }
        _free.Clear();
        _cached = 0;
        _cachedBlocks = 0;
    }

    /// <summary>Releases the cache; blocks still held by live storages are dropped with the device context.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            ReleaseCacheLocked();
            _disposed = true;
        }
    }

    /// <summary>"1.50 GiB", "512 B".</summary>
    public static string FormatBytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        int u = 0;
        while (Math.Abs(v) >= 1024 && u < units.Length - 1)
        {
            v /= 1024;
            u++;
        }
        return u == 0 ? string.Create(CultureInfo.InvariantCulture, $"{bytes} B") : string.Create(CultureInfo.InvariantCulture, $"{v:0.##} {units[u]}");
    }
}
