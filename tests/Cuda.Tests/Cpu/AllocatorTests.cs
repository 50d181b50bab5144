using Ttt.Cuda.Memory;

namespace Ttt.Cuda.Tests.Cpu;

/// <summary>The caching allocator's bookkeeping on a fake device memory; no GPU needed.</summary>
public sealed class AllocatorTests
{
    private sealed class FakeMemory(long capacity) : IDeviceMemory
    {
        private ulong _next = 0x1000_0000;
        public readonly Dictionary<ulong, long> Live = [];
        public int Allocs, Frees, Syncs;

        public string DeviceName => "fake:0";

        public ulong TryAllocate(long bytes)
        {
            if (Live.Values.Sum() + bytes > capacity) return 0;
            ulong p = _next;
            _next += (ulong)bytes + 4096;
            Live[p] = bytes;
            Allocs++;
            return p;
        }

        public void Free(ulong pointer)
        {
            Assert.True(Live.Remove(pointer), "freed a pointer that is not live");
            Frees++;
        }

        public (long Free, long Total) GetInfo() => (capacity - Live.Values.Sum(), capacity);

        public void Synchronize() => Syncs++;
    }

    [Theory]
    [InlineData(1, 512)]
    [InlineData(512, 512)]
    [InlineData(513, 1024)]
    [InlineData(1048575, 1048576)]
    [InlineData(1048576, 1048576)]
    [InlineData(1048577, 1310720)]      // 1.25 MiB
    [InlineData(1572864, 1572864)]      // 1.5 MiB exactly
    [InlineData(1800000, 1835008)]      // → 1.75 MiB
    [InlineData(1900000, 2097152)]      // → 2 MiB
    [InlineData(3000000, 3145728)]      // → 3 MiB (1.5 × 2 MiB)
    public void Sizes_round_up_to_their_class(long bytes, long expected)
    {
        long size = CachingAllocator.RoundSize(bytes);
        Assert.Equal(expected, size);
        Assert.True(size >= bytes && size % CachingAllocator.SmallGranularity == 0);
        if (bytes >= CachingAllocator.LargeThreshold) Assert.True(size <= bytes * 1.25 + 1);
    }

    [Fact]
    public void Freed_blocks_are_reused_and_counted()
    {
        var mem = new FakeMemory(1 << 30);
        using var alloc = new CachingAllocator(mem);
        var a = alloc.Allocate(1000);
        var b = alloc.Allocate(3000);
        Assert.Equal(2, mem.Allocs);
        var s = alloc.Stats;
        Assert.Equal(1024 + 3072, s.AllocatedBytes);
        Assert.Equal(4000, s.RequestedBytes);
        Assert.Equal(0, s.CachedBytes);
        Assert.Equal(2, s.Misses);
        alloc.Return(a);
        s = alloc.Stats;
        Assert.Equal(3072, s.AllocatedBytes);
        Assert.Equal(1024, s.CachedBytes);
        Assert.Equal(1, s.CachedBlocks);
        var c = alloc.Allocate(900); // same class as a: a hit, same pointer
        Assert.Equal(a.Pointer, c.Pointer);
        Assert.Equal(2, mem.Allocs);
        s = alloc.Stats;
        Assert.Equal(1, s.Hits);
        Assert.Equal(0, s.CachedBytes);
        Assert.Equal(1024 + 3072, s.PeakAllocatedBytes);
        alloc.Return(b);
        alloc.Return(c);
        Assert.Equal(0, alloc.Stats.AllocatedBytes);
        Assert.Equal(4096, alloc.Stats.CachedBytes);
        Assert.Equal(4096, alloc.Stats.ReservedBytes);
    }

    [Fact]
    public void EmptyCache_gives_free_blocks_back_and_keeps_live_ones()
    {
        var mem = new FakeMemory(1 << 30);
        using var alloc = new CachingAllocator(mem);
        var keep = alloc.Allocate(5000);
        alloc.Return(alloc.Allocate(7000));
        alloc.Return(alloc.Allocate(2 << 20));
        Assert.Equal(3, mem.Live.Count);
        alloc.EmptyCache();
        Assert.Single(mem.Live);
        Assert.True(mem.Live.ContainsKey(keep.Pointer));
        Assert.Equal(2, mem.Frees);
        Assert.True(mem.Syncs >= 1, "the device must be idle before memory goes back to the driver");
        var s = alloc.Stats;
        Assert.Equal(0, s.CachedBytes);
        Assert.Equal(2, s.DeviceFrees);
        Assert.Equal(5120, s.AllocatedBytes);
    }

    [Fact]
    public void Out_of_memory_releases_the_cache_then_reports_what_was_asked_and_what_is_free()
    {
        var mem = new FakeMemory(10 << 20);
        using var alloc = new CachingAllocator(mem);
        alloc.Return(alloc.Allocate(6 << 20));        // cached, blocks a second 6 MiB block
        var b = alloc.Allocate(5 << 20);                // does not fit next to the cached block: cache released, retried
        Assert.Equal(1, alloc.Stats.DeviceFrees);
        var e = Assert.Throws<CudaOutOfMemoryException>(() => alloc.Allocate(8 << 20));
        Assert.Equal(8 << 20, e.RequestedBytes);
        Assert.Equal((10 << 20) - (5 << 20), e.FreeBytes);
        Assert.Contains("fake:0", e.Message, StringComparison.Ordinal);
        Assert.Contains("tried to allocate 8 MiB", e.Message, StringComparison.Ordinal);
        Assert.Contains("5 MiB free of 10 MiB", e.Message, StringComparison.Ordinal);
        alloc.Return(b);
    }

    [Fact]
    public void Peaks_reset_to_the_current_values()
    {
        var mem = new FakeMemory(1 << 30);
        using var alloc = new CachingAllocator(mem);
        var a = alloc.Allocate(1 << 20);
        alloc.Return(a);
        Assert.Equal(1 << 20, alloc.Stats.PeakAllocatedBytes);
        alloc.ResetPeaks();
        Assert.Equal(0, alloc.Stats.PeakAllocatedBytes);
        Assert.Equal(1 << 20, alloc.Stats.PeakReservedBytes);
    }

    [Fact]
    public void Blocks_returned_after_dispose_are_dropped()
    {
        var mem = new FakeMemory(1 << 30);
        var alloc = new CachingAllocator(mem);
        var a = alloc.Allocate(4096);
        alloc.Dispose();
        alloc.Return(a);
        Assert.Equal(0, alloc.Stats.CachedBytes);
        Assert.Throws<ObjectDisposedException>(() => alloc.Allocate(10));
    }
}
