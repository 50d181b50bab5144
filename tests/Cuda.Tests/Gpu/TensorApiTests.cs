using Ttt.Cuda.Tests.Support;
using Ttt.Testing;

namespace Ttt.Cuda.Tests.OnGpu;

/// <summary>
/// Ops and gradients through the public Tensor API with tensors on Device.Cuda(), against the same computation
/// on the CPU (float64: tight tolerances; the same graph runs on both devices). Skipped without a GPU.
/// </summary>
[Collection("Cuda")]
[Trait("Category", "Cuda")]
public sealed class TensorApiTests
{
    /// <summary>f on CPU and GPU inputs (the same values): outputs and the gradients of Σ f ⊙ r agree.</summary>
    private static void SameOnBothDevices(string what, int[][] shapes, Func<Tensor[], Tensor> f, ulong seed = 1, double atol = 1e-10, double rtol = 1e-8)
    {
        var cpu = shapes.Select((s, i) => Tensor.Rand(s, new Generator(seed + (ulong)i), DType.Float64, -1.5, 1.5)).ToArray();
        var gpu = cpu.Select(t => t.To(Gpu.Device).RequireGrad()).ToArray();
        foreach (var t in cpu) t.RequireGrad();
        var yc = f(cpu);
        var yg = f(gpu);
        Assert.Equal(Ttt.Device.Cpu, yc.Device);
        Assert.Equal(Gpu.Device, yg.Device);
        Close.Check(yc, yg, what + " value", atol, rtol);
        var r = Tensor.RandN(yc.ShapeArray(), new Generator(seed + 100), DType.Float64);
        var gc = Autograd.Grad([(yc * r).Sum()], cpu);
        var gg = Autograd.Grad([(yg * r.To(Gpu.Device)).Sum()], gpu);
        for (int i = 0; i < gc.Length; i++)
        {
            Assert.Equal(Gpu.Device, gg[i].Device);
            Close.Check(gc[i], gg[i], $"{what} gradient {i}", atol, rtol);
        }
    }

    [Fact]
    public void Elementwise_and_broadcast_ops_and_their_gradients()
    {
        Gpu.Require();
        SameOnBothDevices("elementwise", [[3, 4], [4], [3, 1]], x =>
            (x[0] * x[1]).Tanh() + (x[0] - x[2]).Sigmoid() * x[1].Exp() - (x[0] / (x[2].Abs() + 1)).Gelu() + x[0].Silu().Square() + x[1].Relu());
        SameOnBothDevices("pow, sqrt, log", [[5, 2]], x => (x[0].Square() + 1).Sqrt().Log() + (x[0].Abs() + 0.5).Pow(1.5) + (x[0].Square() + 1).Rsqrt());
        SameOnBothDevices("max, min, clamp", [[2, 3], [2, 3]], x => Tensor.Maximum(x[0], x[1]) * Tensor.Minimum(x[0], x[1]).Clamp(-0.5, 0.7));
    }

    [Fact]
    public void Reductions_and_softmax_and_their_gradients()
    {
        Gpu.Require();
        SameOnBothDevices("sum, mean, var", [[3, 4, 5]], x => x[0].Sum([0, 2], keepDim: true) * x[0].Mean(1, keepDim: true) + x[0].Var(2, keepDim: true));
        SameOnBothDevices("max over dims", [[4, 6]], x => x[0].Max(1) + x[0].Min(0).Sum());
        SameOnBothDevices("softmax on a middle dim", [[2, 5, 3]], x => x[0].Softmax(1) * x[0].LogSoftmax(-1));
    }

    [Fact]
    public void Matmul_and_views_and_their_gradients()
    {
        Gpu.Require();
        SameOnBothDevices("batched matmul with broadcast", [[2, 3, 4], [4, 5]], x => x[0].Matmul(x[1]));
        SameOnBothDevices("matmul of transposed and narrowed views", [[6, 4], [3, 6]],
            x => x[0].Transpose(0, 1).Matmul(x[1].Transpose(0, 1)).Narrow(1, 1, 2));
        SameOnBothDevices("vector products", [[4], [4, 3]], x => x[0].Matmul(x[1]));
        SameOnBothDevices("permute, reshape, cat, pad", [[2, 3, 4], [2, 3, 4]],
            x => Tensor.Cat([x[0].Permute(2, 0, 1).Reshape(4, 6), x[1].Reshape(4, 6)], 1).Pad(0, 1, 2) * 2);
    }

    [Fact]
    public void Composite_layers_and_their_gradients()
    {
        Gpu.Require();
        SameOnBothDevices("layer norm", [[3, 8], [8], [8]], x => x[0].LayerNorm(x[1], x[2]));
        SameOnBothDevices("rms norm", [[3, 8], [8]], x => x[0].RmsNorm(x[1]));
        SameOnBothDevices("causal conv1d", [[2, 7, 3], [3, 1, 4], [3]], x => x[0].CausalConv1d(x[1], x[2]));
        SameOnBothDevices("tril and where", [[4, 4]], x => Tensor.Where(x[0].GreaterThan(0), x[0].Tril(), x[0].Triu(1) * 3));
        var targets = Tensor.FromArray(new long[] { 1, -100, 4, 0 });
        var tg = targets.To(Gpu.Device);
        SameOnBothDevices("cross entropy", [[4, 5]], x => Tensor.CrossEntropy(x[0], x[0].Device == Ttt.Device.Cpu ? targets : tg));
    }

    [Fact]
    public void Indexing_ops_and_their_gradients()
    {
        Gpu.Require();
        var idx = Tensor.FromArray(new long[] { 2, 0, 2 });
        var gidx = Tensor.FromArray(new long[] { 1, 0, 1, 2, 2, 0 }, [2, 3]);
        Tensor On(Tensor t, Tensor like) => t.To(like.Device);
        SameOnBothDevices("index_select", [[3, 4]], x => x[0].IndexSelect(0, On(idx, x[0])));
        SameOnBothDevices("gather", [[2, 3]], x => x[0].Gather(1, On(gidx, x[0])));
        SameOnBothDevices("embedding", [[5, 3]], x => x[0].Embedding(On(idx, x[0])));
        SameOnBothDevices("scatter_add and index_add", [[3, 3], [2, 3]],
            x => x[0].ScatterAdd(0, On(gidx, x[0]), x[1]) + x[0].IndexAdd(0, On(Tensor.FromArray(new long[] { 1, 1 }), x[0]), x[1]));
    }

    [Fact]
    public void Second_order_gradients_agree()
    {
        Gpu.Require();
        var xc = Tensor.Rand([3, 4], new Generator(5), DType.Float64, -1, 1).RequireGrad();
        var xg = xc.Detach().To(Gpu.Device).RequireGrad();
        Tensor F(Tensor x) => (x.Tanh() * x.Softmax(-1)).Sum();
        var g1c = Autograd.Grad(F(xc), xc, createGraph: true);
        var g1g = Autograd.Grad(F(xg), xg, createGraph: true);
        var g2c = Autograd.Grad((g1c * g1c).Sum(), xc);
        var g2g = Autograd.Grad((g1g * g1g).Sum(), xg);
        Close.Check(g2c, g2g, "gradient of a gradient");
    }

    [Fact]
    public void Data_moves_between_devices_unchanged()
    {
        Gpu.Require();
        foreach (var dt in new[] { DType.Float32, DType.Float64, DType.Int64 })
        {
            var x = TensorGen.Build([3, 5], 3, ViewKind.Permuted, DType.Float64, -100, 100).To(dt);
            var back = x.To(Gpu.Device).To(Ttt.Device.Cpu);
            Close.Check(x, back, $"round trip {dt.Name()}", 0, 0);
        }
        var g = Tensor.Arange(6, Gpu.Device).Reshape(2, 3);
        Assert.Equal(5.0, g[1, 2]);
        Assert.Equal(15.0, g.Sum().Item());
        Assert.Equal("cuda:0", g.Device.ToString());
    }
}
