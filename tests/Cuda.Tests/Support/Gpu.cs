using Ttt.Testing;

namespace Ttt.Cuda.Tests.Support;

/// <summary>The CUDA tests share one device; they run one at a time.</summary>
[CollectionDefinition("Cuda", DisableParallelization = true)]
public sealed class CudaCollection;

/// <summary>Gate and helpers of the tests that need a GPU (or the CPU emulator of the driver).</summary>
internal static class Gpu
{
    /// <summary>Skips the test (shown as skipped, with the reason) unless CUDA is usable, then initialises it.</summary>
    public static void Require()
    {
        Assert.SkipUnless(Cuda.IsAvailable, $"no CUDA device: {Cuda.UnavailableReason}");
        Cuda.Initialize();
    }

    /// <summary>The device the tests use.</summary>
    public static Device Device => Device.Cuda(0);

    /// <summary>Its backend.</summary>
    public static CudaBackend Backend => Cuda.Backend(0);

    /// <summary>The CPU oracle.</summary>
    public static IBackend Reference => Ttt.Cpu.CpuBackends.Reference;
}

/// <summary>
/// The same tensor on the CPU and on the GPU, with the same values and the same kind of layout: the dense values
/// come from one seed, and the view (permuted, narrowed, expanded) is applied on each device to a copy of the same
/// base, so strides and offsets match too.
/// </summary>
internal static class Pair
{
    public static (Tensor Cpu, Tensor Gpu) Of(int[] shape, ulong seed, ViewKind view, DType dtype, double low = -2, double high = 2)
    {
        var dense = TensorGen.Build(shape, seed, ViewKind.Contiguous, DType.Float64, low, high).To(dtype);
        switch (view)
        {
            case ViewKind.Permuted when shape.Length >= 2:
            {
                var rev = Enumerable.Range(0, shape.Length).Reverse().ToArray();
                var basis = dense.Permute(rev).Contiguous();
                return (basis.Permute(rev), basis.To(Gpu.Device).Permute(rev));
            }
            case ViewKind.Narrowed when shape.Length >= 1:
            {
                int last = shape[^1];
                var wide = Tensor.Zeros([.. shape[..^1], last + 3], dtype);
                wide.Narrow(-1, 1, last).CopyFrom(dense);
                return (wide.Narrow(-1, 1, last), wide.To(Gpu.Device).Narrow(-1, 1, last));
            }
            case ViewKind.Expanded:
            {
                int d = Array.FindIndex(shape, s => s > 1);
                if (d < 0) return (dense, dense.To(Gpu.Device));
                return (dense.Narrow(d, 0, 1).Expand(shape), dense.To(Gpu.Device).Narrow(d, 0, 1).Expand(shape));
            }
            default:
                return (dense, dense.To(Gpu.Device));
        }
    }

    /// <summary>A pair of uninitialised outputs (contiguous) of one shape and dtype.</summary>
    public static (Tensor Cpu, Tensor Gpu) Empty(int[] shape, DType dtype) =>
        (Tensor.Zeros(shape, dtype), Tensor.Zeros(shape, dtype, Gpu.Device));

    /// <summary>An int64 index tensor with values in [0, high) on both devices.</summary>
    public static (Tensor Cpu, Tensor Gpu) Indices(int[] shape, long high, ulong seed)
    {
        var t = Tensor.RandInt(shape, 0, high, new Generator(seed));
        return (t, t.To(Gpu.Device));
    }
}
