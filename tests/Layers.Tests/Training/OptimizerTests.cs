using FsCheck;
using FsCheck.Fluent;
using Ttt.Training;

namespace Ttt.Tests;

/// <summary>AdamW, the schedule, clipping and the TTT-MLP warmup against values computed by hand from their definitions.</summary>
public class OptimizerTests
{
    [Fact]
    public void AdamW_first_two_steps_match_the_closed_form()
    {
        var p = Tensor.FromArray(new[] { 1.0, -2.0 }).RequireGrad();
        var opt = new AdamW([("p", p)], beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1);
        double[] g = [0.5, 0.1];
        double[] expected = [1.0, -2.0];
        double[] m = new double[2], v = new double[2];
        for (int step = 1; step <= 2; step++)
        {
            p.Grad = Tensor.FromArray((double[])g.Clone());
            opt.Update(lr: 0.1);
            for (int i = 0; i < 2; i++)
            {
                // m, v, bias correction and decoupled decay, written out
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.95 * v[i] + 0.05 * g[i] * g[i];
                double mHat = m[i] / (1 - Math.Pow(0.9, step)), vHat = v[i] / (1 - Math.Pow(0.95, step));
                expected[i] -= 0.1 * (mHat / (Math.Sqrt(vHat) + 1e-8) + 0.1 * expected[i]);
            }
            Assert.Equal(expected[0], p[0], 14);
            Assert.Equal(expected[1], p[1], 14);
        }
        // After step 1 the moments make the update g/|g| + λp: 1 − 0.1·(1 + 0.1) = 0.89 (up to ε).
        var q = Tensor.FromArray(new[] { 1.0 }).RequireGrad();
        var o2 = new AdamW([("q", q)]);
        q.Grad = Tensor.FromArray(new[] { 0.5 });
        o2.Update(0.1);
        Assert.Equal(0.89, q[0], 7);
    }

    [Fact]
    public void AdamW_state_round_trips_through_a_checkpoint()
    {
        var p = Tensor.FromArray(new[] { 0.3, 0.7, -0.1 }).RequireGrad();
        var a = new AdamW([("w", p)]);
        p.Grad = Tensor.FromArray(new[] { 0.2, -0.4, 0.05 });
        a.Update(0.01);
        var state = a.State().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        var p2 = Tensor.FromArray(p.ToDoubleArray()).RequireGrad();
        var b = new AdamW([("w", p2)]);
        b.Load(state, a.Step);
        p.Grad = p2.Grad = Tensor.FromArray(new[] { -0.3, 0.1, 0.2 });
        a.Update(0.01);
        b.Update(0.01);
        Assert.Equal(p.ToDoubleArray(), p2.ToDoubleArray());
    }

    [Fact]
    public void Warmup_cosine_schedule_has_the_optax_shape()
    {
        var s = new LrSchedule(Peak: 1e-3, WarmupSteps: 10, TotalSteps: 110, End: 1e-5);
        Assert.Equal(0, s.At(0));
        Assert.Equal(5e-4, s.At(5), 15);
        Assert.Equal(1e-3, s.At(10), 15);
        Assert.Equal((1e-3 + 1e-5) / 2, s.At(60), 15);  // half-way through the cosine
        Assert.Equal(1e-5, s.At(110), 15);
        Assert.Equal(1e-5, s.At(500), 15);
        for (long t = 11; t < 110; t++) Assert.True(s.At(t) <= s.At(t - 1));
        var recipe = LrSchedule.Recipe(3e-3, 4800);
        Assert.Equal(480, recipe.WarmupSteps);             // 10 % warmup as in the paper's 125M run
    }

    [Fact]
    public void Ttt_mlp_inner_lr_warmup_goes_from_a_tenth_to_one()
    {
        Assert.Equal(0.1, TttMlpWarmup.Multiplier(1, 100), 12);       // η_base 0.01 of 0.1
        Assert.Equal(0.55, TttMlpWarmup.Multiplier(51, 100), 12);     // (0.01 + 0.5·0.09)/0.1
        Assert.Equal(1.0, TttMlpWarmup.Multiplier(101, 100), 12);
        Assert.Equal(1.0, TttMlpWarmup.Multiplier(5000, 100), 12);
    }

    [Fact]
    public void Clipping_scales_to_the_global_norm_only_above_the_limit()
    {
        var a = Tensor.FromArray(new[] { 3.0 }).RequireGrad();
        var b = Tensor.FromArray(new[] { 0.0, 4.0 }).RequireGrad();
        a.Grad = Tensor.FromArray(new[] { 3.0 });
        b.Grad = Tensor.FromArray(new[] { 0.0, 4.0 });
        Assert.Equal(5.0, Gradients.ClipGlobalNorm([a, b], 1.0), 12);
        Assert.Equal(0.6, a.Grad![0], 12);
        Assert.Equal(0.8, b.Grad![1], 12);
        Assert.Equal(1.0, Gradients.ClipGlobalNorm([a, b], 2.0), 12);
        Assert.Equal(0.6, a.Grad![0], 12);
    }

    // ---- the streaming CPU kernels against the per-element definitions, at sizes that cross the vector width
    // (16 float32 / 8 float64 lanes), the threads' chunks (32,768 elements) and the norm's blocks (65,536).

    private static readonly int[] OddSizes = [1, 7, 15, 16, 17, 33, 1000, 32_769, 65_537, 140_001];

    [Theory]
    [InlineData(DType.Float32, true)]
    [InlineData(DType.Float64, true)]
    [InlineData(DType.Float32, false)]
    [InlineData(DType.Float64, false)]
    public void AdamW_kernel_equals_the_per_element_update_bit_for_bit(DType dtype, bool withGrad)
    {
        foreach (int n in OddSizes)
        {
            var gen = new Generator((ulong)n);
            var p = Tensor.RandN([n], gen, dtype).RequireGrad();
            var opt = new AdamW([("p", p)], beta1: 0.8, beta2: 0.9, eps: 1e-6, weightDecay: 0.05);
            var pRef = p.ToDoubleArray();
            var mRef = new double[n];
            var vRef = new double[n];
            for (int step = 1; step <= 3; step++)
            {
                var g = withGrad ? Tensor.RandN([n], gen, dtype) : null;
                var gRef = g?.ToDoubleArray() ?? new double[n];
                p.Grad = g;
                opt.Update(lr: 0.01);
                double c1 = 1 - Math.Pow(0.8, step), c2 = 1 - Math.Pow(0.9, step);
                for (int i = 0; i < n; i++)
                {
                    // In float64; the moments are stored in the parameter's dtype after p has used them unrounded.
                    double m = 0.8 * mRef[i] + (1 - 0.8) * gRef[i];
                    double v = 0.9 * vRef[i] + (1 - 0.9) * gRef[i] * gRef[i];
                    pRef[i] = Round(dtype, pRef[i] - 0.01 * (m / c1 / (Math.Sqrt(v / c2) + 1e-6) + 0.05 * pRef[i]));
                    (mRef[i], vRef[i]) = (Round(dtype, m), Round(dtype, v));
                }
                var got = p.ToDoubleArray();
                for (int i = 0; i < n; i++)
                    if (got[i] != pRef[i])
                        Assert.Fail($"n = {n}, step {step}, element {i}: kernel {got[i]:R}, definition {pRef[i]:R}");
            }
        }
    }

    private static double Round(DType dtype, double x) => dtype == DType.Float32 ? (float)x : x;

    [Fact]
    public void AdamW_accepts_a_strided_gradient()
    {
        var p = Tensor.RandN([37, 53], new Generator(4)).RequireGrad();
        var q = p.Detach().Clone().RequireGrad();
        var g = Tensor.RandN([53, 37], new Generator(5));
        p.Grad = g.MT;                    // a transposed view
        q.Grad = g.MT.Contiguous();
        new AdamW([("p", p)]).Update(0.1);
        new AdamW([("q", q)]).Update(0.1);
        Assert.Equal(q.ToDoubleArray(), p.ToDoubleArray());
    }

    [Fact]
    public void Global_norm_equals_the_float64_sum_of_squares()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(30), Prop.ForAll(
            Gen.Elements(OddSizes).ArrayOf().Where(a => a.Length is > 0 and < 4).ToArbitrary(),
            Gen.Elements(DType.Float32, DType.Float64).ToArbitrary(),
            (sizes, dtype) =>
            {
                var gen = new Generator((ulong)sizes.Sum());
                var ps = sizes.Select(n => Tensor.Zeros([n], dtype).RequireGrad()).ToArray();
                double expected = 0;
                foreach (var p in ps)
                {
                    p.Grad = Tensor.RandN([.. p.Shape], gen, dtype);
                    foreach (double x in p.Grad.ToDoubleArray()) expected += x * x;
                }
                expected = Math.Sqrt(expected);
                double norm = Gradients.GlobalNorm(ps);
                Assert.True(Math.Abs(norm - expected) <= 1e-12 * expected, $"sizes [{string.Join(", ", sizes)}] {dtype}: {norm:R} vs {expected:R}");
            }));
    }

    [Fact]
    public void Global_norm_of_strided_and_non_finite_gradients()
    {
        var a = Tensor.Zeros([3, 5]).RequireGrad();
        a.Grad = Tensor.Arange(0, 15, 1, DType.Float32).Reshape(5, 3).MT;   // 0² + … + 14² = 1015
        Assert.Equal(Math.Sqrt(1015), Gradients.GlobalNorm([a]), 12);
        var b = Tensor.Zeros([40]).RequireGrad();
        var values = new float[40];
        values[33] = float.NaN;
        b.Grad = Tensor.FromArray(values);
        Assert.True(double.IsNaN(Gradients.GlobalNorm([a, b])));
        values[33] = float.PositiveInfinity;
        b.Grad = Tensor.FromArray(values);
        Assert.True(double.IsPositiveInfinity(Gradients.GlobalNorm([a, b])));
    }
}
