using Ttt.Cpu;

namespace Ttt.Tests;

/// <summary>
/// A full pool makes room for a returned array by releasing the size classes asked for least recently, so it follows
/// a change of workload instead of staying full of sizes nobody rents. Runs alone: it narrows the global limit.
/// </summary>
[Collection(nameof(CpuBufferPoolEvictionCollection))]
public class CpuBufferPoolEvictionTests
{
    // ushort arrays: an element type no storage uses, so the test's size classes are its own.
    private const int OldLength = 1 << 20;        // 2 MiB each
    private const int NewLength = (1 << 20) + 4096;

    // Dead storages of earlier tests hand their arrays back from finalizers: let that happen now, then start empty.
    private static void Quiesce()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        CpuBufferPool.Trim();
    }

    [Fact]
    public void A_full_pool_releases_the_least_recently_rented_class_to_keep_a_new_one()
    {
        long limit = CpuBufferPool.MaxRetainedBytes;
        try
        {
            Quiesce();
            // Room for two old arrays, or for one old and one new, but not for all three.
            CpuBufferPool.MaxRetainedBytes = (long)(OldLength + NewLength) * sizeof(ushort) + 1024;
            Assert.Null(CpuBufferPool.Rent<ushort>(OldLength));                  // the old class is asked for first
            CpuBufferPool.Return(new ushort[OldLength], sizeof(ushort));
            CpuBufferPool.Return(new ushort[OldLength], sizeof(ushort));
            Assert.Null(CpuBufferPool.Rent<ushort>(NewLength));                  // then the workload moves on
            long dropped = CpuBufferPool.Dropped;

            CpuBufferPool.Return(new ushort[NewLength], sizeof(ushort));

            Assert.Equal(dropped, CpuBufferPool.Dropped);                        // kept, not dropped
            Assert.NotNull(CpuBufferPool.Rent<ushort>(NewLength));              // the new class is served
            Assert.NotNull(CpuBufferPool.Rent<ushort>(OldLength));              // one old array made room, one is left
            Assert.Null(CpuBufferPool.Rent<ushort>(OldLength));
            Assert.True(CpuBufferPool.RetainedBytes <= CpuBufferPool.MaxRetainedBytes);
        }
        finally
        {
            CpuBufferPool.MaxRetainedBytes = limit;
        }
    }

    [Fact]
    public void An_array_larger_than_the_limit_is_dropped()
    {
        long limit = CpuBufferPool.MaxRetainedBytes;
        try
        {
            Quiesce();
            CpuBufferPool.MaxRetainedBytes = OldLength;                          // half of one array
            long dropped = CpuBufferPool.Dropped;
            CpuBufferPool.Return(new ushort[OldLength], sizeof(ushort));
            Assert.Equal(dropped + 1, CpuBufferPool.Dropped);
            Assert.Null(CpuBufferPool.Rent<ushort>(OldLength));
        }
        finally
        {
            CpuBufferPool.MaxRetainedBytes = limit;
        }
    }
}

[CollectionDefinition(nameof(CpuBufferPoolEvictionCollection), DisableParallelization = true)]
public sealed class CpuBufferPoolEvictionCollection;
