using FsCheck;
using FsCheck.Fluent;
using Ttt.Backends;
using Ttt.Cuda.Fused;
using Ttt.Cuda.Tests.Fused;
using Ttt.Cuda.Tests.Support;
using Ttt.Models;
using Ttt.Testing;

namespace Ttt.Cuda.Tests.OnGpu;

/// <summary>
/// ptx/ttt_dual.cu (TTT-Linear, TTT-MLP with the official and the exact GELU derivative, float32 and float64) against
/// the float64 oracle FusedReference.TttDualScan (the composed analytic dual form, differentiated by autograd): the
/// outputs, the final state and the gradients of every input, with sequence lengths that leave a remainder
/// mini-batch; and the op TttFused.Scan on the GPU (routed to the kernels) against the same op on the CPU, first and
/// second order. Skipped without a GPU.
/// </summary>
[Collection("Cuda")]
[Trait("Category", "Cuda")]
public sealed class FusedTttDualTests
{
    private static InnerModel Inner(TttDualKind kind) => kind switch
    {
        TttDualKind.Linear => new LinearInner(),
        TttDualKind.Mlp => new MlpInner(),
        _ => new MlpInner { ExactGeluDerivative = true },
    };

    /// <summary>θ₀ [B, H, …], q, k, v, lr, τ, γ, β on the CPU in float64, in ranges like a trained layer's.</summary>
    private static Tensor[] Inputs(TttDualKind kind, int b, int h, int t, int d, int k, ulong seed)
    {
        Tensor R(int[] shape, double lo, double hi) => Tensor.Rand(shape, new Generator(seed++), DType.Float64, lo, hi);
        var theta = FusedTttDual.StateShapes(kind, d).Select(s => R([b, h, .. s], -0.3, 0.3)).ToArray();
        return [.. theta, R([b, h, t, d], -1, 1), R([b, h, t, d], -1, 1), R([b, h, t, d], -1, 1), R([b, h, t], 0.05, 0.5),
                R([k], 0.2, 1), R([h, d], 0.5, 1.5), R([h, d], -0.3, 0.3)];
    }

    [Fact]
    public void Forward_and_backward_match_the_oracle()
    {
        Gpu.Require();
        var gen =
            from kind in Gen.Elements(TttDualKind.Linear, TttDualKind.Mlp, TttDualKind.MlpExactGelu)
            from b in Gen.Choose(1, 2)
            from h in Gen.Choose(1, 2)
            from d in Gen.Elements(4, 8, 12)
            from k in Gen.Elements(4, 8)
            from t in Gen.Elements(3, 8, 13)
            from seed in TensorGen.Seed()
            from dt in Gen.Elements(DType.Float32, DType.Float64)
            select (kind, b, h, d, k, t, seed, dt);
        Props.ForAll(gen, 12, c =>
        {
            var x = Inputs(c.kind, c.b, c.h, c.t, c.d, c.k, c.seed).Select(t => t.To(c.dt).To(DType.Float64)).ToArray(); // dtype-rounded
            int s = x.Length - 7;
            var stateShapes = FusedTttDual.StateShapes(c.kind, c.d).Select(sh => new[] { c.b, c.h, sh[0], sh[1] }).ToArray();
            Tensor[] weights = [Tensor.Rand([c.b, c.h, c.t, c.d], new Generator(c.seed + 100), DType.Float64, -1, 1),
                .. stateShapes.Select((sh, i) => Tensor.Rand(sh, new Generator(c.seed + 101 + (ulong)i), DType.Float64, -1, 1))];
            var (expected, grads) = FusedReference.TttDualScan(Inner(c.kind), x, weights);

            var g = x.Select(t => t.To(c.dt).To(Gpu.Device)).ToArray();
            long flatLen = weights.Sum(w => w.Numel);
            var flat = Tensor.Empty([(int)flatLen], c.dt, Gpu.Device);
            var saved = FusedTttDual.Forward(c.kind, g[..s], g[s], g[s + 1], g[s + 2], g[s + 3], g[s + 4], g[s + 5], g[s + 6], flat, saveStates: true);
            string what = $"ttt_dual {c.kind} {c.dt.Name()} B{c.b} H{c.h} T{c.t} d{c.d} K{c.k}";
            var (atol, rtol) = Close.Default(c.dt);
            double loose = c.dt == DType.Float32 ? 20 : 10;
            var actual = flat.To(Device.Cpu).ToDoubleArray();
            Close.Values(expected.SelectMany(e => e.ToDoubleArray()).ToArray(), actual, what + " output and final state", atol * loose, rtol * loose);

            var dFlat = Tensor.Cat(weights.Select(w => w.Reshape(-1)).ToArray(), 0).To(c.dt).To(Gpu.Device);
            var dg = FusedTttDual.Backward(c.kind, g[s], g[s + 1], g[s + 2], g[s + 3], g[s + 4], g[s + 5], g[s + 6], saved!, dFlat);
            string[] names = [.. Enumerable.Range(0, s).Select(i => $"dθ{i}"), "dq", "dk", "dv", "dlr", "dτ", "dγ", "dβ"];
            for (int i = 0; i < x.Length; i++)
                Close.Values(grads[i].ToDoubleArray(), dg[i].To(Device.Cpu).ToDoubleArray(), $"{what} {names[i]}", atol * loose * 5, rtol * loose * 5);
        });
    }

    [Theory]
    [InlineData(TttDualKind.Linear)]
    [InlineData(TttDualKind.Mlp)]
    public void The_op_on_the_gpu_matches_the_cpu_first_and_second_order(TttDualKind kind)
    {
        Gpu.Require();
        const int B = 2, H = 2, T = 11, D = 8, K = 4;
        var inner = Inner(kind);
        var cpu = Inputs(kind, 1, H, T, D, K, 77);
        int s = cpu.Length - 7;
        for (int i = 0; i < s; i++) cpu[i] = cpu[i].Squeeze(0);            // θ₀ per head [H, …]: broadcast over the batch
        for (int i = s; i < s + 4; i++) cpu[i] = Tensor.Cat([cpu[i], cpu[i] * 0.5], 0); // batch of 2
        var w = Tensor.Rand([B, H, T, D], new Generator(78), DType.Float64, -1, 1);
        Tensor[] Run(Device device, bool second)
        {
            var x = cpu.Select(t => t.To(device).RequireGrad()).ToArray();
            Assert.True(TttFused.Applies(inner, InnerLoopMode.Dual, x[s], K));
            var (output, state) = TttFused.Scan(inner, x[..s], x[s], x[s + 1], x[s + 2], x[s + 3], x[s + 4], x[s + 5], x[s + 6]);
            var loss = (output * w.To(device)).Sum() + state.Select(st => (st * st).Sum()).Aggregate((a, b) => a + b);
            var g = Autograd.Grad([loss], x, createGraph: second);
            if (!second) return [output, .. state, .. g];
            var gg = Autograd.Grad([(g[s] * g[s]).Sum()], [x[s + 1]]);
            return [output, .. g, gg[0]];
        }
        foreach (bool second in new[] { false, true })
        {
            var c = Run(Device.Cpu, second);
            var g = Run(Gpu.Device, second);
            for (int i = 0; i < c.Length; i++)
                Close.Check(c[i], g[i].To(Device.Cpu), $"ttt fused scan {kind} second order {second} output {i}", 1e-9, 1e-8);
        }
    }

    [Theory]
    [InlineData("linear")]
    [InlineData("mlp")]
    public void A_ttt_layer_on_the_gpu_matches_the_cpu(string inner)
    {
        Gpu.Require();
        // T = 10 with K = 4: two full mini-batches and a remainder; the GPU layer routes its scan to ptx/ttt_dual.cu.
        var config = new TTTConfig { HiddenSize = 16, NumAttentionHeads = 2, MiniBatchSize = 4, TttLayerType = inner, TttBaseLr = inner == "mlp" ? 0.1 : 1.0 };
        var cpu = new TTTLayer(config, new Generator(5), dtype: DType.Float64);
        var gpu = new TTTLayer(config, new Generator(5), dtype: DType.Float64);
        gpu.To(Gpu.Device);
        Assert.True(TttFused.Applies(gpu.Inner, gpu.Mode, Tensor.Zeros([2, 2, 10, 8], DType.Float64, Gpu.Device), config.MiniBatchSize));
        var x = Tensor.Rand([2, 10, 16], new Generator(6), DType.Float64, -1, 1);
        var w = Tensor.Rand([2, 10, 16], new Generator(7), DType.Float64, -1, 1);
        Tensor[] Run(TTTLayer layer, Device device)
        {
            var xi = x.To(device).RequireGrad();
            var y = layer.Forward(xi);
            var parameters = layer.Parameters().ToArray();
            var g = Autograd.Grad([(y * w.To(device)).Sum()], [xi, .. parameters]);
            return [y, .. g];
        }
        var c = Run(cpu, Device.Cpu);
        var g = Run(gpu, Gpu.Device);
        Assert.Equal(c.Length, g.Length);
        for (int i = 0; i < c.Length; i++)
            Close.Check(c[i], g[i].To(Device.Cpu), $"ttt-{inner} layer output/gradient {i}", 1e-9, 1e-8);
    }

    [Fact]
    public void Beyond_the_kernels_limits_the_op_takes_the_composed_path_on_the_gpu()
    {
        Gpu.Require();
        const int D = FusedTttDual.MaxHeadDim + 8, K = 2, T = 3, H = 1;
        var inner = new LinearInner();
        Assert.False(FusedTttDual.Supports(TttDualKind.Linear, DType.Float64, D, K));
        Assert.False(TttFused.Applies(inner, InnerLoopMode.Dual, Tensor.Zeros([1, H, T, D], DType.Float64, Gpu.Device), K));
        Assert.True(TttFused.Applies(inner, InnerLoopMode.Dual, Tensor.Zeros([1, H, T, D], DType.Float64), K)); // the CPU kernel has no such limit
        var x = Inputs(TttDualKind.Linear, 1, H, T, D, K, 90);
        int s = x.Length - 7;
        var cpu = TttFused.Scan(inner, x[..s], x[s], x[s + 1], x[s + 2], x[s + 3], x[s + 4], x[s + 5], x[s + 6]);
        var g = x.Select(t => t.To(Gpu.Device)).ToArray();
        var gpu = TttFused.Scan(inner, g[..s], g[s], g[s + 1], g[s + 2], g[s + 3], g[s + 4], g[s + 5], g[s + 6]);
        Close.Check(cpu.Output, gpu.Output.To(Device.Cpu), "output beyond the limits", 1e-10, 1e-9);
        for (int i = 0; i < cpu.State.Length; i++) Close.Check(cpu.State[i], gpu.State[i].To(Device.Cpu), $"state {i} beyond the limits", 1e-10, 1e-9);
    }
}
