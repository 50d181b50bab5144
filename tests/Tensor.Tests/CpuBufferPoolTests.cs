using System.Runtime.CompilerServices;
using Ttt.Cpu;

namespace Ttt.Tests;

/// <summary>The pool behind large CPU storages: reuse after the storage dies, never while it lives, zeroing kept.</summary>
public class CpuBufferPoolTests
{
    // 256 KiB of float32: above CpuBufferPool.MinPooledBytes. An odd length exercises the size classes.
    private const int Length = 65_537;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AllocateAndDrop(int count)
    {
        for (int i = 0; i < count; i++)
        {
            var t = Tensor.Full([Length], 7.5);
            Assert.Equal(7.5, t[Length - 1]);
        }
    }

    private static void CollectDeadStorages()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    [Fact]
    public void A_dead_storage_array_is_reused_and_zeros_stay_zero()
    {
        AllocateAndDrop(4);
        CollectDeadStorages();
        long hits = CpuBufferPool.Hits;
        // Every array just freed held 7.5s: a zero-filled tensor from the pool must still read as zeros.
        for (int i = 0; i < 4; i++)
        {
            var z = Tensor.Zeros([Length]);
            Assert.All(z.ToDoubleArray(), v => Assert.Equal(0.0, v));
        }
        Assert.True(CpuBufferPool.Hits > hits, "no storage came from the pool");
    }

    [Fact]
    public unsafe void A_live_storage_is_never_handed_out_again()
    {
        var live = Enumerable.Range(0, 8).Select(i => Tensor.Full([Length], i)).ToArray();
        AllocateAndDrop(8);
        CollectDeadStorages();
        var fresh = Enumerable.Range(0, 16).Select(_ => Tensor.Full([Length], -1.0)).ToArray();
        var liveAddresses = live.Select(t => ((CpuStorage)t.Storage).Pointer).ToHashSet();
        Assert.DoesNotContain(fresh, t => liveAddresses.Contains(((CpuStorage)t.Storage).Pointer));
        for (int i = 0; i < live.Length; i++) Assert.Equal((double)i, live[i][Length / 2]);
        GC.KeepAlive(fresh);
    }

    [Fact]
    public unsafe void Pooled_storages_are_64_byte_aligned()
    {
        for (int i = 0; i < 6; i++)
        {
            var t = Tensor.Empty([Length + i], i % 2 == 0 ? DType.Float32 : DType.Float64);
            Assert.Equal(0, ((CpuStorage)t.Storage).Pointer % 64);
        }
    }

    [Fact]
    public void Size_classes_cover_the_request_with_at_most_an_eighth_more()
    {
        foreach (long n in new long[] { 1, 63, 64, 65, 1000, 16_385, 65_553, 1 << 20, (1 << 20) + 1, 123_456_789 })
        {
            int c = CpuBufferPool.SizeClass(n);
            Assert.InRange(c, n, n + Math.Max(n / 8, 16));
        }
    }
}
