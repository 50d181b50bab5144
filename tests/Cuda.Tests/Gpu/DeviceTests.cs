using Ttt.Cuda.Tests.Support;

namespace Ttt.Cuda.Tests.OnGpu;

/// <summary>The device, its allocator and events on a real GPU (or the emulator). Skipped without one.</summary>
[Collection("Cuda")]
[Trait("Category", "Cuda")]
public sealed class DeviceTests
{
    [Fact]
    public void The_device_describes_itself()
    {
        Gpu.Require();
        var d = Cuda.Device();
        Assert.False(string.IsNullOrWhiteSpace(d.Name));
        Assert.True(d.TotalMemory > 0);
        Assert.True(d.MultiprocessorCount > 0);
        Assert.True(d.ComputeCapability.Major >= 8, $"the PTX targets compute_80; {d} is {d.ComputeCapability}");
        var (free, total) = d.MemoryInfo();
        Assert.InRange(free, 0, total);
        Assert.True(Cuda.DriverVersion > 0);
        Assert.NotNull(Cuda.CublasVersion);
        Assert.Equal("cuda:0", Gpu.Backend.Name);
    }

    [Fact]
    public void Disposed_storages_go_to_the_cache_and_come_back_as_hits()
    {
        Gpu.Require();
        var alloc = Cuda.Device().Allocator;
        Cuda.Device().Synchronize();
        alloc.EmptyCache();
        var before = alloc.Stats;
        var t = Tensor.Zeros([1000, 300], DType.Float32, Gpu.Device); // 1 200 000 bytes: the 1.25 MiB class
        var during = alloc.Stats;
        Assert.Equal(before.AllocatedBytes + 1310720, during.AllocatedBytes);
        Assert.Equal(before.RequestedBytes + 1_200_000, during.RequestedBytes);
        Assert.True(during.PeakAllocatedBytes >= during.AllocatedBytes);
        t.Storage.Dispose();
        var after = alloc.Stats;
        Assert.Equal(before.AllocatedBytes, after.AllocatedBytes);
        Assert.True(after.CachedBytes >= 1310720);
        var again = Tensor.Zeros([999, 300], DType.Float32, Gpu.Device); // same class: served from the cache
        Assert.Equal(after.Hits + 1, alloc.Stats.Hits);
        Assert.Equal(after.DeviceAllocations, alloc.Stats.DeviceAllocations);
        again.Storage.Dispose();
        alloc.EmptyCache();
        var empty = alloc.Stats;
        Assert.Equal(0, empty.CachedBytes);
        Assert.Equal(0, empty.CachedBlocks);
        Assert.True(empty.DeviceFrees > after.DeviceFrees);
    }

    [Fact]
    public void Unreferenced_tensors_give_their_memory_back_through_the_finalizer()
    {
        Gpu.Require();
        var alloc = Cuda.Device().Allocator;
        static void Garbage()
        {
            for (int i = 0; i < 10; i++) _ = Tensor.Ones([1 << 16], DType.Float32, Gpu.Device);
        }
        Garbage();
        long held = alloc.Stats.AllocatedBytes;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.True(alloc.Stats.AllocatedBytes <= held - 10 * (1 << 18), $"{alloc.Stats}");
    }

    [Fact]
    public void Out_of_memory_says_what_was_asked_and_what_is_free()
    {
        Gpu.Require();
        var d = Cuda.Device();
        long huge = d.TotalMemory * 4;
        var e = Assert.Throws<CudaOutOfMemoryException>(() => Gpu.Backend.Allocate(DType.Float64, huge / 8, zero: false));
        Assert.Contains("CUDA out of memory on cuda:0", e.Message, StringComparison.Ordinal);
        Assert.Contains("tried to allocate", e.Message, StringComparison.Ordinal);
        Assert.Contains("free of", e.Message, StringComparison.Ordinal);
        Assert.True(e.RequestedBytes >= huge);
        Assert.InRange(e.FreeBytes, 0, d.TotalMemory);
    }

    [Fact]
    public void Events_time_device_work()
    {
        Gpu.Require();
        var x = Tensor.Ones([256, 256], DType.Float32, Gpu.Device);
        double ms = Cuda.Device().Time(() => _ = x.Matmul(x).Exp());
        Assert.True(ms >= 0 && ms < 60_000, $"{ms} ms");
    }

    [Fact]
    public void Kernel_launch_failures_are_reported_with_the_kernel_name()
    {
        Gpu.Require();
        var spec = Kernels.KernelCatalog.Unary[DType.Float32];
        var e = Assert.Throws<ArgumentException>(() => Cuda.Device().Launch(spec, 1, 1, 2048, new Kernels.DevicePtr(0)));
        Assert.Contains("unary_f32", e.Message, StringComparison.Ordinal);
    }
}
