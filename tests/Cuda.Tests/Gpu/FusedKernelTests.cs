using FsCheck;
using FsCheck.Fluent;
using Ttt.Cuda.Fused;
using Ttt.Cuda.Tests.Fused;
using Ttt.Cuda.Tests.Support;
using Ttt.Testing;

namespace Ttt.Cuda.Tests.OnGpu;

/// <summary>
/// Every fused kernel against FusedReference (float64 loops of the same math), float32 and float64, on generated
/// sizes; and the fused forwards against the composite ops they replace. Skipped without a GPU.
/// </summary>
[Collection("Cuda")]
[Trait("Category", "Cuda")]
public sealed class FusedKernelTests
{
    private static readonly Gen<DType> Floats = Gen.Elements(DType.Float32, DType.Float64);

    private static Tensor OnGpu(double[] v, int[] shape, DType dt) => Tensor.FromArray(v, shape).To(dt).To(Gpu.Device);

    private static double[] Rand(int n, ulong seed, double lo = -2, double hi = 2)
    {
        var g = new Generator(seed);
        return Enumerable.Range(0, n).Select(_ => lo + (hi - lo) * g.NextDouble()).ToArray();
    }

    /// <summary>Inputs rounded to the dtype, so the oracle sees exactly what the kernel sees.</summary>
    private static double[] Rounded(double[] v, DType dt) => dt == DType.Float32 ? v.Select(x => (double)(float)x).ToArray() : v;

    private static void Same(double[] expected, Tensor actual, string what, DType dt, double? atol = null, double? rtol = null)
    {
        var (a, r) = Close.Default(dt);
        Close.Values(expected, actual.To(Device.Cpu).ToDoubleArray(), what, atol ?? a, rtol ?? r);
    }

    [Fact]
    public void LayerNorm_forward_and_backward_match_the_oracle()
    {
        Gpu.Require();
        var gen =
            from rows in Gen.Choose(1, 9)
            from dim in Gen.Elements(1, 3, 32, 100, 700)
            from affine in Gen.Elements(0, 1, 2) // none, weight only, weight and bias
            from seed in TensorGen.Seed()
            from dt in Floats
            select (rows, dim, affine, seed, dt);
        Props.ForAll(gen, 40, c =>
        {
            var x = Rounded(Rand(c.rows * c.dim, c.seed), c.dt);
            var w = c.affine >= 1 ? Rounded(Rand(c.dim, c.seed + 1), c.dt) : null;
            var b = c.affine == 2 ? Rounded(Rand(c.dim, c.seed + 2), c.dt) : null;
            var dy = Rounded(Rand(c.rows * c.dim, c.seed + 3), c.dt);
            var (ry, rmean, rrstd) = FusedReference.LayerNorm(x, c.rows, c.dim, w, b, 1e-5);
            var xg = OnGpu(x, [c.rows, c.dim], c.dt);
            var wg = w is null ? null : OnGpu(w, [c.dim], c.dt);
            var bg = b is null ? null : OnGpu(b, [c.dim], c.dt);
            var (y, mean, rstd) = FusedNorms.LayerNormForward(xg, wg, bg, 1e-5);
            string what = $"layer_norm {c.dt.Name()} [{c.rows}, {c.dim}] affine {c.affine}";
            Same(ry, y, what + " y", c.dt);
            Same(rmean, mean, what + " mean", c.dt);
            Same(rrstd, rstd, what + " rstd", c.dt, rtol: c.dt == DType.Float32 ? 1e-3 : null); // 1/√var amplifies float32 rounding for tiny dims
            var (rdx, rdw, rdb) = FusedReference.LayerNormBackward(dy, x, w, rmean, rrstd, c.rows, c.dim, b is not null);
            var (dx, dw, db) = FusedNorms.LayerNormBackward(OnGpu(dy, [c.rows, c.dim], c.dt), xg, wg, mean, rstd, b is not null);
            Same(rdx, dx, what + " dx", c.dt, atol: c.dt == DType.Float32 ? 1e-4 : null, rtol: c.dt == DType.Float32 ? 1e-3 : null);
            Assert.Equal(w is null, dw is null);
            Assert.Equal(b is null, db is null);
            if (dw is not null) Same(rdw!, dw, what + " dweight", c.dt, atol: c.dt == DType.Float32 ? 1e-4 : null);
            if (db is not null) Same(rdb!, db, what + " dbias", c.dt, atol: c.dt == DType.Float32 ? 1e-4 : null);
        });
    }

    [Fact]
    public void RmsNorm_forward_and_backward_match_the_oracle()
    {
        Gpu.Require();
        var gen =
            from rows in Gen.Choose(1, 9)
            from dim in Gen.Elements(1, 5, 64, 300)
            from weighted in Gen.Elements(false, true)
            from seed in TensorGen.Seed()
            from dt in Floats
            select (rows, dim, weighted, seed, dt);
        Props.ForAll(gen, 40, c =>
        {
            var x = Rounded(Rand(c.rows * c.dim, c.seed), c.dt);
            var w = c.weighted ? Rounded(Rand(c.dim, c.seed + 1), c.dt) : null;
            var dy = Rounded(Rand(c.rows * c.dim, c.seed + 2), c.dt);
            var (ry, rrstd) = FusedReference.RmsNorm(x, c.rows, c.dim, w, 1e-6);
            var xg = OnGpu(x, [c.rows, c.dim], c.dt);
            var wg = w is null ? null : OnGpu(w, [c.dim], c.dt);
            var (y, rstd) = FusedNorms.RmsNormForward(xg, wg, 1e-6);
            string what = $"rms_norm {c.dt.Name()} [{c.rows}, {c.dim}] weighted {c.weighted}";
            Same(ry, y, what + " y", c.dt);
            Same(rrstd, rstd, what + " rstd", c.dt);
            var (rdx, rdw) = FusedReference.RmsNormBackward(dy, x, w, rrstd, c.rows, c.dim);
            var (dx, dw) = FusedNorms.RmsNormBackward(OnGpu(dy, [c.rows, c.dim], c.dt), xg, wg, rstd);
            Same(rdx, dx, what + " dx", c.dt, atol: c.dt == DType.Float32 ? 1e-4 : null, rtol: c.dt == DType.Float32 ? 1e-3 : null);
            Assert.Equal(w is null, dw is null);
            if (dw is not null) Same(rdw!, dw, what + " dweight", c.dt, atol: c.dt == DType.Float32 ? 1e-4 : null);
        });
    }

    [Fact]
    public void CrossEntropy_forward_and_backward_match_the_oracle_and_the_composite()
    {
        Gpu.Require();
        var gen =
            from rows in Gen.Choose(1, 12)
            from classes in Gen.Elements(2, 7, 33, 1000)
            from seed in TensorGen.Seed()
            from dt in Floats
            select (rows, classes, seed, dt);
        Props.ForAll(gen, 30, c =>
        {
            var logits = Rounded(Rand(c.rows * c.classes, c.seed, -4, 4), c.dt);
            var g = new Generator(c.seed + 1);
            var targets = Enumerable.Range(0, c.rows).Select(_ => g.NextDouble() < 0.2 ? -100L : g.NextInt64(c.classes)).ToArray();
            var (rl, rlse) = FusedReference.CrossEntropy(logits, targets, c.classes, -100);
            var lg = OnGpu(logits, [c.rows, c.classes], c.dt);
            var tg = Tensor.FromArray(targets).To(Gpu.Device);
            var (loss, lse) = FusedCrossEntropy.Forward(lg, tg);
            string what = $"cross_entropy {c.dt.Name()} [{c.rows}, {c.classes}]";
            Same(rl, loss, what + " loss", c.dt);
            Same(rlse, lse, what + " lse", c.dt);
            var dloss = Rounded(Rand(c.rows, c.seed + 2), c.dt);
            var rd = FusedReference.CrossEntropyBackward(logits, targets, rlse, dloss, c.classes, -100);
            var d = FusedCrossEntropy.Backward(lg, tg, lse, OnGpu(dloss, [c.rows], c.dt));
            Same(rd, d, what + " dlogits", c.dt);
            // The mean over valid targets is the composite op's value.
            int count = targets.Count(t => t != -100);
            if (count > 0)
            {
                var composite = Tensor.CrossEntropy(Tensor.FromArray(logits, [c.rows, c.classes]), Tensor.FromArray(targets)).Item();
                Assert.Equal(composite, loss.To(DType.Float64).Sum().Item() / count, c.dt == DType.Float32 ? 4 : 10);
            }
        });
    }

    [Fact]
    public void CrossEntropy_rejects_out_of_range_targets()
    {
        Gpu.Require();
        var logits = Tensor.Zeros([2, 3], DType.Float32, Gpu.Device);
        var targets = Tensor.FromArray(new long[] { 1, 3 }).To(Gpu.Device);
        Assert.Throws<IndexOutOfRangeException>(() => FusedCrossEntropy.Forward(logits, targets));
    }

    [Fact]
    public void Embedding_forward_and_backward_match_the_oracle()
    {
        Gpu.Require();
        var gen =
            from vocab in Gen.Choose(1, 50)
            from dim in Gen.Elements(1, 4, 65)
            from n in Gen.Choose(0, 40)
            from seed in TensorGen.Seed()
            from dt in Floats
            select (vocab, dim, n, seed, dt);
        Props.ForAll(gen, 40, c =>
        {
            var table = Rounded(Rand(c.vocab * c.dim, c.seed), c.dt);
            var g = new Generator(c.seed + 1);
            var ids = Enumerable.Range(0, c.n).Select(_ => g.NextInt64(c.vocab)).ToArray(); // repeats are likely
            var dy = Rounded(Rand(c.n * c.dim, c.seed + 2), c.dt);
            var idg = Tensor.FromArray(ids).To(Gpu.Device);
            var y = FusedEmbedding.Forward(idg, OnGpu(table, [c.vocab, c.dim], c.dt));
            string what = $"embedding {c.dt.Name()} V={c.vocab} D={c.dim} n={c.n}";
            Same(FusedReference.Embedding(ids, table, c.dim), y, what + " y", c.dt, 0, 0);
            var dtable = FusedEmbedding.Backward(idg, OnGpu(dy, [c.n, c.dim], c.dt), c.vocab);
            Same(FusedReference.EmbeddingBackward(ids, dy, c.vocab, c.dim), dtable, what + " dtable", c.dt);
        });
        var bad = Tensor.FromArray(new long[] { 0, 9 }).To(Gpu.Device);
        Assert.Throws<IndexOutOfRangeException>(() => FusedEmbedding.Forward(bad, Tensor.Zeros([4, 2], DType.Float32, Gpu.Device)));
    }

    [Fact]
    public void CausalConv1d_forward_and_backward_match_the_oracle_and_the_composite()
    {
        Gpu.Require();
        var gen =
            from batch in Gen.Choose(1, 3)
            from time in Gen.Choose(1, 12)
            from channels in Gen.Elements(1, 3, 40)
            from width in Gen.Choose(1, 5)
            from withBias in Gen.Elements(false, true)
            from seed in TensorGen.Seed()
            from dt in Floats
            select (batch, time, channels, width, withBias, seed, dt);
        Props.ForAll(gen, 40, c =>
        {
            int n = c.batch * c.time * c.channels;
            var x = Rounded(Rand(n, c.seed), c.dt);
            var w = Rounded(Rand(c.channels * c.width, c.seed + 1), c.dt);
            var bias = c.withBias ? Rounded(Rand(c.channels, c.seed + 2), c.dt) : null;
            var dy = Rounded(Rand(n, c.seed + 3), c.dt);
            int[] xs = [c.batch, c.time, c.channels];
            var xg = OnGpu(x, xs, c.dt);
            var wg = OnGpu(w, [c.channels, 1, c.width], c.dt);
            var y = FusedConv1d.Forward(xg, wg, bias is null ? null : OnGpu(bias, [c.channels], c.dt));
            string what = $"causal_conv1d {c.dt.Name()} B={c.batch} T={c.time} C={c.channels} W={c.width}";
            Same(FusedReference.Conv1d(x, w, bias, c.batch, c.time, c.channels, c.width), y, what + " y", c.dt);
            var composite = Tensor.FromArray(x, xs).CausalConv1d(Tensor.FromArray(w, [c.channels, 1, c.width]), bias is null ? null : Tensor.FromArray(bias));
            Same(composite.ToDoubleArray(), y, what + " y vs composite", c.dt);
            var (rdx, rdw, rdb) = FusedReference.Conv1dBackward(dy, x, w, c.batch, c.time, c.channels, c.width);
            var (dx, dw, db) = FusedConv1d.Backward(OnGpu(dy, xs, c.dt), xg, wg, c.withBias);
            Same(rdx, dx, what + " dx", c.dt);
            Same(rdw, dw, what + " dweight", c.dt);
            Assert.Equal([c.channels, 1, c.width], dw.ShapeArray());
            Assert.Equal(c.withBias, db is not null);
            if (db is not null) Same(rdb, db, what + " dbias", c.dt);
        });
    }

    [Fact]
    public void Rope_matches_the_oracle_and_its_inverse_undoes_it()
    {
        Gpu.Require();
        var gen =
            from b in Gen.Choose(1, 2)
            from t in Gen.Choose(1, 9)
            from h in Gen.Choose(1, 3)
            from halfD in Gen.Choose(1, 8)
            from headsFirst in Gen.Elements(false, true)
            from withPositions in Gen.Elements(false, true)
            from seed in TensorGen.Seed()
            from dt in Floats
            select (b, t, h, d: 2 * halfD, headsFirst, withPositions, seed, dt);
        Props.ForAll(gen, 40, c =>
        {
            int[] shape = c.headsFirst ? [c.b, c.h, c.t, c.d] : [c.b, c.t, c.h, c.d];
            int timeDim = c.headsFirst ? 2 : 1;
            var x = Rounded(Rand(shape.Aggregate(1, (p, s) => p * s), c.seed), c.dt);
            long[]? positions = c.withPositions ? Enumerable.Range(0, c.t).Select(i => (long)(1000 + 37 * i)).ToArray() : null;
            var xg = OnGpu(x, shape, c.dt);
            var pg = positions is null ? null : Tensor.FromArray(positions).To(Gpu.Device);
            var y = FusedRope.Apply(xg, timeDim, 10000, pg);
            string what = $"rope {c.dt.Name()} {ShapeUtil.Format(shape)} time dim {timeDim} positions {c.withPositions}";
            Same(FusedReference.Rope(x, shape, timeDim, 10000, positions, false), y, what, c.dt);
            var back = FusedRope.Apply(y, timeDim, 10000, pg, inverse: true);
            Same(x, back, what + " inverse", c.dt);
        });
    }

    [Fact]
    public void AdamW_steps_match_the_oracle()
    {
        Gpu.Require();
        foreach (var dt in new[] { DType.Float32, DType.Float64 })
            foreach (int n in new[] { 1, 37, 5000 })
            {
                var p = Rounded(Rand(n, 1), dt);
                var m = new double[n];
                var v = new double[n];
                var pg = OnGpu(p, [n], dt);
                var mg = Tensor.Zeros([n], dt, Gpu.Device);
                var vg = Tensor.Zeros([n], dt, Gpu.Device);
                for (int step = 1; step <= 3; step++)
                {
                    var g = Rounded(Rand(n, (ulong)(10 + step)), dt);
                    FusedReference.AdamW(p, g, m, v, step, 1e-2, 0.9, 0.999, 1e-8, 0.1);
                    FusedAdamW.Step(pg, OnGpu(g, [n], dt), mg, vg, step, 1e-2, 0.9, 0.999, 1e-8, 0.1);
                }
                // float32: three steps of float32 arithmetic against double; the update lr·m̂/√v̂ is O(lr).
                Same(p, pg, $"adamw {dt.Name()} n={n} param", dt, atol: dt == DType.Float32 ? 1e-5 : null);
                Same(m, mg, $"adamw {dt.Name()} n={n} m", dt);
                Same(v, vg, $"adamw {dt.Name()} n={n} v", dt);
            }
    }
}
