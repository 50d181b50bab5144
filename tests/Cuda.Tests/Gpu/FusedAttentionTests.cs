using FsCheck;
using FsCheck.Fluent;
using Ttt.Cuda.Fused;
using Ttt.Cuda.Tests.Fused;
using Ttt.Cuda.Tests.Support;
using Ttt.Testing;

namespace Ttt.Cuda.Tests.OnGpu;

/// <summary>
/// ptx/attention.cu against the float64 oracle (FusedReference.Attention), float32 and float64, across tile
/// boundaries, causal and not, Tq ≤ Tk (decoding) and strided [B, T, H, d] views; and the differentiable op
/// <see cref="Tensor.BlockwiseAttention(Tensor, Tensor, Tensor, bool, double?)"/> on the GPU (which routes to the
/// kernels) against the same op on the CPU, first and second order. Skipped without a GPU.
/// </summary>
[Collection("Cuda")]
[Trait("Category", "Cuda")]
public sealed class FusedAttentionTests
{
    private static double[] Rand(int n, ulong seed, double lo = -1.5, double hi = 1.5)
    {
        var g = new Generator(seed);
        return Enumerable.Range(0, n).Select(_ => lo + (hi - lo) * g.NextDouble()).ToArray();
    }

    private static double[] Rounded(double[] v, DType dt) => dt == DType.Float32 ? v.Select(x => (double)(float)x).ToArray() : v;

    private static void Same(double[] expected, Tensor actual, string what, DType dt, double scale = 1)
    {
        var (a, r) = Close.Default(dt);
        Close.Values(expected, actual.To(Device.Cpu).ToDoubleArray(), what, a * scale, r * scale);
    }

    [Fact]
    public void Forward_and_backward_match_the_oracle()
    {
        Gpu.Require();
        var gen =
            from b in Gen.Choose(1, 2)
            from h in Gen.Choose(1, 2)
            from tk in Gen.Elements(1, 7, 17, 40)
            from tqCut in Gen.Elements(0, 0, 3)
            from d in Gen.Elements(1, 5, 32, 64, 128)
            from causal in Gen.Elements(true, false)
            from transposed in Gen.Elements(false, true)
            from seed in TensorGen.Seed()
            from dt in Gen.Elements(DType.Float32, DType.Float64)
            select (b, h, tq: Math.Max(1, tk - tqCut), tk, d, causal, transposed, seed, dt);
        Props.ForAll(gen, 16, c =>
        {
            double scale = 1 / Math.Sqrt(c.d);
            int bh = c.b * c.h;
            var q = Rounded(Rand(bh * c.tq * c.d, c.seed), c.dt);
            var k = Rounded(Rand(bh * c.tk * c.d, c.seed + 1), c.dt);
            var v = Rounded(Rand(bh * c.tk * c.d, c.seed + 2), c.dt);
            var g = Rounded(Rand(bh * c.tq * c.d, c.seed + 3), c.dt);
            var (ro, rlse) = FusedReference.Attention(q, k, v, bh, c.tq, c.tk, c.d, c.causal, scale);
            var (rdq, rdk, rdv) = FusedReference.AttentionBackward(q, k, v, g, bh, c.tq, c.tk, c.d, c.causal, scale);
            var qg = OnGpu(q, c.b, c.h, c.tq, c.d, c.dt, c.transposed);
            var kg = OnGpu(k, c.b, c.h, c.tk, c.d, c.dt, c.transposed);
            var vg = OnGpu(v, c.b, c.h, c.tk, c.d, c.dt, c.transposed);
            var gg = OnGpu(g, c.b, c.h, c.tq, c.d, c.dt, c.transposed);
            string what = $"attention {c.dt.Name()} B{c.b} H{c.h} Tq{c.tq} Tk{c.tk} d{c.d} causal {c.causal} transposed {c.transposed}";
            var (o, lse) = FusedAttention.Forward(qg, kg, vg, c.causal, scale);
            Same(ro, o, what + " o", c.dt);
            Same(rlse, lse, what + " lse", c.dt);
            var (dq, dk, dv) = FusedAttention.Backward(qg, kg, vg, o, lse, gg, c.causal, scale);
            double loose = c.dt == DType.Float32 ? 10 : 1; // sums over Tk·d products
            Same(rdq, dq, what + " dq", c.dt, loose);
            Same(rdk, dk, what + " dk", c.dt, loose);
            Same(rdv, dv, what + " dv", c.dt, loose);
        });
    }

    /// <summary>[B, H, T, d] values on the GPU, either dense or as the [B, T, H, d] layout viewed as [B, H, T, d].</summary>
    private static Tensor OnGpu(double[] values, int b, int h, int t, int d, DType dt, bool transposed)
    {
        var dense = Tensor.FromArray(values, [b, h, t, d]).To(dt);
        return transposed ? dense.Transpose(1, 2).Contiguous().To(Gpu.Device).Transpose(1, 2) : dense.To(Gpu.Device);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_op_on_the_gpu_matches_the_cpu_first_and_second_order(bool causal)
    {
        Gpu.Require();
        const int B = 1, H = 2, T = 19, D = 8;
        var qc = Tensor.Rand([B, H, T, D], new Generator(31), DType.Float64, -1, 1);
        var kc = Tensor.Rand([B, H, T, D], new Generator(32), DType.Float64, -1, 1);
        var vc = Tensor.Rand([B, H, T, D], new Generator(33), DType.Float64, -1, 1);
        var wc = Tensor.Rand([B, H, T, D], new Generator(34), DType.Float64, -1, 1);
        Tensor[] Run(Device device, bool secondOrder)
        {
            var q = qc.To(device).RequireGrad();
            var k = kc.To(device).RequireGrad();
            var v = vc.To(device).RequireGrad();
            var w = wc.To(device);
            var loss = (Tensor.BlockwiseAttention(q, k, v, causal) * w).Sum();
            var g = Autograd.Grad([loss], [q, k, v], createGraph: secondOrder);
            if (!secondOrder) return [loss, .. g];
            // Second order: d/dq of Σ (dq)² goes through the composed backward on both devices.
            var gg = Autograd.Grad([(g[0] * g[0]).Sum()], [q]);
            return [loss, .. g, gg[0]];
        }
        foreach (bool second in new[] { false, true })
        {
            var cpu = Run(Device.Cpu, second);
            var gpu = Run(Gpu.Device, second);
            for (int i = 0; i < cpu.Length; i++)
                Close.Check(cpu[i], gpu[i].To(Device.Cpu), $"attention causal {causal} second order {second} output {i}", 1e-10, 1e-9);
        }
    }
}
