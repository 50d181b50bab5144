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
}
