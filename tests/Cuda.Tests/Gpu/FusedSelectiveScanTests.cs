using FsCheck;
using FsCheck.Fluent;
using Ttt.Cuda.Fused;
using Ttt.Cuda.Tests.Fused;
using Ttt.Cuda.Tests.Support;
using Ttt.Models;
using Ttt.Testing;

namespace Ttt.Cuda.Tests.OnGpu;

/// <summary>
/// ptx/mamba_scan.cu against the float64 oracle (FusedReference.SelectiveScan), float32 and float64, with state
/// counts on both sides of the kernel's 16-state register group, lengths across the backward's 64-step chunks and
/// channel counts that leave idle lanes; and the op <see cref="SelectiveScan"/> on the GPU (routed to the kernels)
/// against the CPU, first and second order. Skipped without a GPU.
/// </summary>
[Collection("Cuda")]
[Trait("Category", "Cuda")]
public sealed class FusedSelectiveScanTests
{
    private static double[] Rand(int n, ulong seed, double lo, double hi)
    {
        var g = new Generator(seed);
        return Enumerable.Range(0, n).Select(_ => lo + (hi - lo) * g.NextDouble()).ToArray();
    }

    private static double[] Rounded(double[] v, DType dt) => dt == DType.Float32 ? v.Select(x => (double)(float)x).ToArray() : v;

    [Fact]
    public void Forward_and_backward_match_the_oracle()
    {
        Gpu.Require();
        var gen =
            from batch in Gen.Choose(1, 2)
            from len in Gen.Elements(1, 5, 70)
            from ch in Gen.Elements(1, 3, 33)
            from states in Gen.Elements(1, 4, 16, 19)
            from seed in TensorGen.Seed()
            from dt in Gen.Elements(DType.Float32, DType.Float64)
            select (batch, len, ch, states, seed, dt);
        Props.ForAll(gen, 12, c =>
        {
            int n = c.batch * c.len * c.ch, bn = c.batch * c.len * c.states;
            double[][] x =
            [
                Rounded(Rand(n, c.seed, -1, 1), c.dt),
                Rounded(Rand(n, c.seed + 1, 0.01, 0.5), c.dt),
                Rounded(Rand(c.ch * c.states, c.seed + 2, -2, -0.1), c.dt),
                Rounded(Rand(bn, c.seed + 3, -1, 1), c.dt),
                Rounded(Rand(bn, c.seed + 4, -1, 1), c.dt),
                Rounded(Rand(c.ch, c.seed + 5, -1, 1), c.dt),
            ];
            var dy = Rounded(Rand(n, c.seed + 6, -1, 1), c.dt);
            int[][] shapes = [[c.batch, c.len, c.ch], [c.batch, c.len, c.ch], [c.ch, c.states], [c.batch, c.len, c.states], [c.batch, c.len, c.states], [c.ch]];
            var g = x.Select((v, i) => Tensor.FromArray(v, shapes[i]).To(c.dt).To(Gpu.Device)).ToArray();
            var (ry, rlast) = FusedReference.SelectiveScan(x[0], x[1], x[2], x[3], x[4], x[5], c.batch, c.len, c.ch, c.states);
            var (y, last) = FusedSelectiveScan.Forward(g[0], g[1], g[2], g[3], g[4], g[5], wantLastState: true);
            string what = $"selective_scan {c.dt.Name()} B{c.batch} L{c.len} E{c.ch} N{c.states}";
            var (atol, rtol) = Close.Default(c.dt);
            double loose = c.dt == DType.Float32 ? 10 : 1;
            Close.Values(ry, y.To(Device.Cpu).ToDoubleArray(), what + " y", atol * loose, rtol * loose);
            Close.Values(rlast, last!.To(Device.Cpu).ToDoubleArray(), what + " last state", atol * loose, rtol * loose);
            var rg = FusedReference.SelectiveScanBackward(x[0], x[1], x[2], x[3], x[4], x[5], dy, c.batch, c.len, c.ch, c.states);
            var grads = FusedSelectiveScan.Backward(g[0], g[1], g[2], g[3], g[4], g[5], Tensor.FromArray(dy, shapes[0]).To(c.dt).To(Gpu.Device));
            string[] names = ["du", "dΔ", "dA", "dB", "dC", "dD"];
            for (int i = 0; i < 6; i++)
                Close.Values(rg[i], grads[i].To(Device.Cpu).ToDoubleArray(), $"{what} {names[i]}", atol * loose * 10, rtol * loose * 10);
        });
    }

    [Fact]
    public void The_op_on_the_gpu_matches_the_cpu_first_and_second_order()
    {
        Gpu.Require();
        const int B = 2, L = 9, E = 5, N = 3;
        Tensor[] cpu =
        [
            Tensor.Rand([B, L, E], new Generator(40), DType.Float64, -1, 1),
            Tensor.Rand([B, L, E], new Generator(41), DType.Float64, 0.05, 0.6),
            Tensor.Rand([E, N], new Generator(42), DType.Float64, -1.5, -0.2),
            Tensor.Rand([B, L, N], new Generator(43), DType.Float64, -1, 1),
            Tensor.Rand([B, L, N], new Generator(44), DType.Float64, -1, 1),
            Tensor.Rand([E], new Generator(45), DType.Float64, -1, 1),
        ];
        var w = Tensor.Rand([B, L, E], new Generator(46), DType.Float64, -1, 1);
        Tensor[] Run(Device device, bool second)
        {
            var x = cpu.Select(t => t.To(device).RequireGrad()).ToArray();
            var (y, last) = SelectiveScan.ApplyWithState(x[0], x[1], x[2], x[3], x[4], x[5]);
            var loss = (y * w.To(device)).Sum();
            var g = Autograd.Grad([loss], x, createGraph: second);
            if (!second) return [y, last, .. g];
            var gg = Autograd.Grad([(g[0] * g[0]).Sum()], [x[1]]);
            return [y, last, .. g, gg[0]];
        }
        foreach (bool second in new[] { false, true })
        {
            var c = Run(Device.Cpu, second);
            var g = Run(Gpu.Device, second);
            for (int i = 0; i < c.Length; i++)
                Close.Check(c[i], g[i].To(Device.Cpu), $"selective_scan second order {second} output {i}", 1e-10, 1e-9);
        }
    }
}
