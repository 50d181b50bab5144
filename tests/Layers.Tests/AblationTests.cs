using Ttt.Models;
using Ttt.Nn;

namespace Ttt.Tests;

/// <summary>
/// The ablation switches of the TTT layer (paper Table 1): mini-batch size b = 1 … T, zero vs learnable W0, LayerNorm
/// and residual inside f, fixed vs learnable η. Each is checked against an implementation written here from the
/// spec in plain float64 loops (projections, interleaved RoPE, post_norm, output projection): the "TTT equals linear
/// attention" configuration against causal linear attention, b = 1 against the delta rule, and the first token of
/// a zero-W0 layer against its closed form for every LayerNorm/residual combination. The fused kernels take zero W0
/// and a fixed η as inputs and must agree with the composed path; with f's LayerNorm or residual off the layer
/// falls back to the composed path, and the decoding cache must agree with the full forward.
/// </summary>
public class AblationTests
{
    private const int Hidden = 8, Heads = 2, HeadDim = 4;

    private static TTTConfig Config(int k, bool w0, bool norm, bool residual, bool learnableLr, double eta = 0.5, bool mamba = false, bool bias = true)
    {
        var c = LayerTestSupport.Config(Hidden, Heads, k, "linear", mamba);
        c.LearnableInitState = w0;
        c.UseTttBias = bias;
        c.UseTttNorm = norm;
        c.UseTttResidual = residual;
        c.LearnableTttLr = learnableLr;
        c.TttFixedLr = eta;
        return c;
    }

    private static TTTLayer Layer(TTTConfig config, ulong seed)
    {
        var layer = new TTTLayer(config, new Generator(seed), dtype: DType.Float64);
        LayerTestSupport.Randomize(layer, seed + 1);
        return layer;
    }

    private static Tensor Input(int b, int t, ulong seed) => Tensor.RandN([b, t, Hidden], new Generator(seed), DType.Float64);

    // ------------------------------------------------------------------ an independent implementation from the spec

    /// <summary>The layer's parameters as plain arrays (row-major), by state-dict name.</summary>
    private static Dictionary<string, double[]> Params(TTTLayer layer) =>
        layer.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor.ToDoubleArray());

    /// <summary>y = x·Wᵀ for W [out, in] (PyTorch layout, spec §0).</summary>
    private static double[] Project(double[] x, double[] w)
    {
        int n = w.Length / x.Length;
        var y = new double[n];
        for (int o = 0; o < n; o++)
            for (int i = 0; i < x.Length; i++) y[o] += x[i] * w[o * x.Length + i];
        return y;
    }

    /// <summary>Interleaved-pair RoPE of spec §1.3: rotate (x[2i], x[2i+1]) by p·θ^(−2i/d).</summary>
    private static double[] Rope(double[] x, int position, double theta = 10000)
    {
        int d = x.Length;
        var y = new double[d];
        for (int i = 0; i < d / 2; i++)
        {
            double angle = position * Math.Pow(theta, -2.0 * i / d), c = Math.Cos(angle), s = Math.Sin(angle);
            y[2 * i] = x[2 * i] * c - x[2 * i + 1] * s;
            y[2 * i + 1] = x[2 * i] * s + x[2 * i + 1] * c;
        }
        return y;
    }

    private static double[] LayerNorm(double[] x, double[] gamma, double[] beta, int offset = 0)
    {
        int d = x.Length;
        double mu = x.Average(), variance = x.Select(v => (v - mu) * (v - mu)).Average(), s = Math.Sqrt(variance + 1e-6);
        return x.Select((v, i) => gamma[offset + i] * (v - mu) / s + beta[offset + i]).ToArray();
    }

    private static double Dot(double[] a, double[] b) => a.Select((v, i) => v * b[i]).Sum();

    private static double[] Slice(double[] x, int head) => x.Skip(head * HeadDim).Take(HeadDim).ToArray();

    /// <summary>
    /// Runs the Transformer-backbone layer's outer path around a per-head sequence rule: Q, K, V projections, RoPE at
    /// positions t mod K, then <paramref name="rule"/>(head, q[], k[], v[], x[]) → per-token head outputs, merge heads,
    /// post_norm (LayerNorm over D, eps 1e-6), o_proj. x: [B, T, D] as an array; returns [B, T, D].
    /// </summary>
    private static double[] OuterPath(TTTLayer layer, double[] x, int b, int t, int k,
        Func<int, double[][], double[][], double[][], double[][], double[][]> rule)
    {
        var p = Params(layer);
        var result = new double[b * t * Hidden];
        for (int n = 0; n < b; n++)
        {
            var xs = Enumerable.Range(0, t).Select(i => x.Skip((n * t + i) * Hidden).Take(Hidden).ToArray()).ToArray();
            var qs = xs.Select(r => Project(r, p["q_proj.weight"])).ToArray();
            var ks = xs.Select(r => Project(r, p["k_proj.weight"])).ToArray();
            var vs = xs.Select(r => Project(r, p["v_proj.weight"])).ToArray();
            var merged = new double[t][];
            for (int i = 0; i < t; i++) merged[i] = new double[Hidden];
            for (int h = 0; h < Heads; h++)
            {
                var q = qs.Select((r, i) => Rope(Slice(r, h), i % k)).ToArray();
                var kk = ks.Select((r, i) => Rope(Slice(r, h), i % k)).ToArray();
                var v = vs.Select(r => Slice(r, h)).ToArray();
                var o = rule(h, q, kk, v, xs);
                for (int i = 0; i < t; i++) Array.Copy(o[i], 0, merged[i], h * HeadDim, HeadDim);
            }
            for (int i = 0; i < t; i++)
            {
                var y = Project(LayerNorm(merged[i], p["post_norm.weight"], p["post_norm.bias"]), p["o_proj.weight"]);
                Array.Copy(y, 0, result, (n * t + i) * Hidden, Hidden);
            }
        }
        return result;
    }

    private static double MaxRel(double[] expected, Tensor actual)
    {
        var a = actual.ToDoubleArray();
        Assert.Equal(expected.Length, a.Length);
        double scale = expected.Max(Math.Abs);
        return expected.Select((e, i) => Math.Abs(e - a[i])).Max() / scale;
    }

    // ------------------------------------------------------------------ TTT = linear attention

    /// <summary>
    /// Paper §2.6, Theorem 1, in the spec's conventions. f(x) = x·W (no bias, no LN, no residual, row convention), W0 = 0,
    /// batch GD with b = T (all gradients taken at W0), fixed η. The code's inner loss is ℓ = ½‖k·W − v‖² (the target is
    /// v, not v − k, without the residual), so ∇_W ℓ_s = k_sᵀ(k_s·W − v_s) = −k_sᵀ v_s at W = 0. The fixed-η switch
    /// applies E[i, j] = 2η (the paper's η on its un-halved loss ‖k·W − v‖²) to every j ≤ i, without the 1/(i+1)
    /// token-index scale. So W_t = 0 − Σ_{s≤t} 2η·(−k_sᵀ v_s) = 2η Σ_{s≤t} k_sᵀ v_s and the output (test view, no residual,
    /// no LN) is q_t·W_t = 2η Σ_{s≤t} (q_t·k_s) v_s; with η = ½ that is exactly causal linear attention
    /// out_t = Σ_{s≤t} (q_t·k_s) v_s. q and k are the layer's views after RoPE at positions t mod b = t (b = T).
    /// </summary>
    [Theory]
    [InlineData(0.5, true)]
    [InlineData(0.5, false)]
    [InlineData(0.3, true)]
    public void Ttt_linear_with_b_T_zero_W0_fixed_eta_and_plain_f_is_causal_linear_attention(double eta, bool fusedEnabled)
    {
        const int b = 2, t = 11;
        var layer = Layer(Config(k: t, w0: false, norm: false, residual: false, learnableLr: false, eta: eta, bias: false), 10);
        Assert.DoesNotContain(layer.NamedParameters(), p => p.Name is "W1" or "b1" or "learnable_token_idx" or "ttt_norm_weight" or "learnable_ttt_lr_weight");
        var x = Input(b, t, 11);
        var expected = OuterPath(layer, x.ToDoubleArray(), b, t, t, (_, q, k, v, _) =>
            q.Select((qt, i) =>
            {
                var o = new double[HeadDim];
                for (int s = 0; s <= i; s++)
                {
                    double a = Dot(qt, k[s]);
                    for (int j = 0; j < HeadDim; j++) o[j] += a * v[s][j];
                }
                return o.Select(val => 2 * eta * val).ToArray();
            }).ToArray());
        using (TttFused.Override(fusedEnabled))
        {
            Assert.True(MaxRel(expected, layer.Forward(x)) < 1e-12);
            layer.Mode = InnerLoopMode.Autograd;
            Assert.True(MaxRel(expected, layer.Forward(x)) < 1e-12);
        }
    }

    /// <summary>
    /// b = 1 with the same plain f and fixed η is the delta rule: each token's gradient is taken at the state left by
    /// the previous token, W_t = W_{t−1} − 2η·k_tᵀ(k_t·W_{t−1} − v_t), out_t = q_t·W_t (RoPE at t mod 1 = 0 is the identity).
    /// It differs from linear attention, which shows that the mini-batch size matters.
    /// </summary>
    [Fact]
    public void Mini_batch_size_one_is_the_delta_rule()
    {
        const int b = 1, t = 9;
        const double eta = 0.2;
        var layer = Layer(Config(k: 1, w0: false, norm: false, residual: false, learnableLr: false, eta: eta, bias: false), 20);
        var x = Input(b, t, 21);
        var expected = OuterPath(layer, x.ToDoubleArray(), b, t, 1, (_, q, k, v, _) =>
        {
            var w = new double[HeadDim, HeadDim];
            var outs = new double[t][];
            for (int i = 0; i < t; i++)
            {
                var residual = new double[HeadDim];
                for (int c = 0; c < HeadDim; c++)
                {
                    for (int r = 0; r < HeadDim; r++) residual[c] += k[i][r] * w[r, c];
                    residual[c] -= v[i][c];
                }
                for (int r = 0; r < HeadDim; r++)
                    for (int c = 0; c < HeadDim; c++) w[r, c] -= 2 * eta * k[i][r] * residual[c];
                outs[i] = new double[HeadDim];
                for (int c = 0; c < HeadDim; c++)
                    for (int r = 0; r < HeadDim; r++) outs[i][c] += q[i][r] * w[r, c];
            }
            return outs;
        });
        Assert.True(MaxRel(expected, layer.Forward(x)) < 1e-12);

        var batchGd = Layer(Config(k: t, w0: false, norm: false, residual: false, learnableLr: false, eta: eta, bias: false), 20);
        Assert.True(MaxRel(expected, batchGd.Forward(x)) > 1e-3);
    }

    // ------------------------------------------------------------------ zero W0: the first token in closed form

    /// <summary>
    /// With W0 = 0 the first token's prediction is z = k_0·0 + 0 = 0, so its gradient is a closed form: with LN,
    /// μ = 0, s = √(0 + 1e-6), x̂ = 0, so ∂ℓ/∂z = (d·g − Σg)/(d·s) with g = γ⊙(β − target); without LN, −target
    /// (target = v − k with the residual, v without). The state after the token is W = −E₀₀·k_0ᵀ∂ℓ/∂z,
    /// b = −E₀₀·∂ℓ/∂z, so f_res(q_0) = −E₀₀(q_0·k_0 + 1)∂ℓ/∂z (the 1 from the bias; 0 without it) and the output is
    /// [q_0 +] [LN](that), with
    /// E₀₀ = τ_0·lr_0 = max(0, 1 + δ_0)·η_base·σ(x_0·θ_lr + β_lr)/d (learnable η; RoPE at position 0 is the identity).
    /// A learnable W0 changes that output.
    /// </summary>
    [Theory]
    [InlineData(true, true, true)]
    [InlineData(true, false, true)]
    [InlineData(false, true, true)]
    [InlineData(false, false, true)]
    [InlineData(true, true, false)]
    [InlineData(false, false, false)]
    public void Zero_W0_first_token_output_has_its_closed_form(bool norm, bool residual, bool bias)
    {
        const int b = 2, t = 1;
        var config = Config(k: 4, w0: false, norm: norm, residual: residual, learnableLr: true, bias: bias);
        var layer = Layer(config, 30);
        var p = Params(layer);
        var x = Input(b, t, 31);
        var gamma = norm ? p["ttt_norm_weight"] : Enumerable.Repeat(1.0, Heads * HeadDim).ToArray();
        var beta = norm ? p["ttt_norm_bias"] : new double[Heads * HeadDim];
        double tau = Math.Max(0, 1 + p["learnable_token_idx"][0]);
        var expected = OuterPath(layer, x.ToDoubleArray(), b, t, 4, (h, q, k, v, xs) =>
        {
            double a = Dot(xs[0], p["learnable_ttt_lr_weight"].Skip(h * Hidden).Take(Hidden).ToArray()) + p["learnable_ttt_lr_bias"][h];
            double e00 = tau * config.TttBaseLr / (1 + Math.Exp(-a)) / HeadDim;
            var target = residual ? v[0].Select((vv, j) => vv - k[0][j]).ToArray() : v[0];
            double[] grad;
            if (norm)
            {
                var g = target.Select((tt, j) => gamma[h * HeadDim + j] * (beta[h * HeadDim + j] - tt)).ToArray();
                grad = g.Select(gj => (HeadDim * gj - g.Sum()) / (HeadDim * Math.Sqrt(1e-6))).ToArray();
            }
            else grad = target.Select(tt => -tt).ToArray();
            double scale = -e00 * (Dot(q[0], k[0]) + (bias ? 1 : 0));
            var z = grad.Select(g => scale * g).ToArray();
            var head = norm ? LayerNorm(z, gamma, beta, h * HeadDim) : z;
            return [residual ? head.Select((y, j) => q[0][j] + y).ToArray() : head];
        });
        var actual = layer.Forward(x);
        Assert.True(MaxRel(expected, actual) < 1e-10);

        // The same layer with a learnable (non-zero) W0 computes something else.
        config.LearnableInitState = true;
        var withW0 = new TTTLayer(config, new Generator(30), dtype: DType.Float64);
        var state = layer.NamedParameters().ToDictionary(q => q.Name, q => q.Tensor);
        foreach (var (name, tensor) in withW0.NamedParameters())
            if (state.TryGetValue(name, out var value)) using (GradMode.Disable()) tensor.CopyFrom(value);
        using (GradMode.Disable()) withW0.NamedParameters().Single(q => q.Name == "W1").Tensor.CopyFrom(Tensor.RandN([Heads, HeadDim, HeadDim], new Generator(32), DType.Float64, 0, 0.5));
        Assert.True(MaxRel(expected, withW0.Forward(x)) > 1e-3);
    }

    // ------------------------------------------------------------------ routing: fused where it applies, fallback where not

    private static (Tensor Output, Tensor InputGrad, Tensor[] ParamGrads) RunWithGrads(TTTLayer layer, Tensor x0)
    {
        var x = x0.Detach().RequireGrad();
        layer.ZeroGrad();
        var y = layer.Forward(x);
        (y * y).Sum().Backward();
        return (y.Detach(), x.Grad!, layer.NamedParameters().Select(p => p.Tensor.Grad!).ToArray());
    }

    /// <summary>
    /// Zero W0 and a fixed η keep the official f, so the fused kernels run them (they are only different inputs: a
    /// zero state and a constant learning rate with τ = 1); outputs and gradients must equal the composed path's.
    /// With f's LayerNorm or residual off the fused kernels do not apply and the layer computes the composed path
    /// whether the fused path is enabled or not; there too the result must not depend on the setting.
    /// </summary>
    [Theory]
    [InlineData(false, true, true, false, true)]
    [InlineData(true, true, true, false, true)]
    [InlineData(false, true, true, true, true)]
    [InlineData(false, false, true, false, false)]
    [InlineData(true, true, false, true, false)]
    [InlineData(false, false, false, false, false)]
    [InlineData(true, true, true, true, false, false)]
    [InlineData(false, false, false, false, false, false)]
    public void Fused_and_composed_paths_agree_under_every_switch(bool w0, bool norm, bool residual, bool learnableLr, bool fusedApplies, bool bias = true)
    {
        foreach (bool mamba in new[] { false, true })
        {
            var config = Config(k: 4, w0: w0, norm: norm, residual: residual, learnableLr: learnableLr, eta: 0.05, mamba: mamba, bias: bias);
            var layer = Layer(config, 40);
            var x = Input(2, 10, 41);
            Assert.Equal(fusedApplies, layer.Objective.IsOfficial && TttFused.Applies(layer.Inner, layer.Mode, x));
            (Tensor Output, Tensor InputGrad, Tensor[] ParamGrads) fused, composed;
            using (TttFused.Override(true)) fused = RunWithGrads(layer, x);
            using (TttFused.Override(false)) composed = RunWithGrads(layer, x);
            Assert.True(LayerTestSupport.Rel(composed.Output, fused.Output) < 1e-10);
            Assert.True(LayerTestSupport.Rel(composed.InputGrad, fused.InputGrad) < 1e-9);
            for (int i = 0; i < composed.ParamGrads.Length; i++)
                Assert.True(LayerTestSupport.Rel(composed.ParamGrads[i], fused.ParamGrads[i]) < 1e-9, $"parameter {i}");
        }
    }

    /// <summary>The decoding cache (prefill in dual form, then primal steps) agrees with the full forward under the switches.</summary>
    [Theory]
    [InlineData(false, false, false, false)]
    [InlineData(false, true, true, false)]
    [InlineData(true, false, true, true)]
    [InlineData(true, true, false, true)]
    [InlineData(false, false, false, false, false)]
    [InlineData(true, true, true, true, false)]
    public void Decoding_with_a_cache_matches_the_full_forward(bool w0, bool norm, bool residual, bool learnableLr, bool bias = true)
    {
        var layer = Layer(Config(k: 4, w0: w0, norm: norm, residual: residual, learnableLr: learnableLr, eta: 0.05, mamba: true, bias: bias), 50);
        var x = Input(2, 11, 51);
        var full = layer.Forward(x);
        var cache = new TTTLayerCache();
        var first = layer.Forward(x.Narrow(1, 0, 6), cache);
        var rest = layer.Forward(x.Narrow(1, 6, 5), cache);
        Assert.True(LayerTestSupport.Rel(full, Tensor.Cat([first, rest], 1)) < 1e-10);
    }

    /// <summary>
    /// Inference decoding takes the fused TTT-Linear token kernel; token by token, across mini-batch boundaries, its
    /// outputs and carried state equal the composed primal form's under every switch, in float64 and float32.
    /// </summary>
    [Theory]
    [InlineData(false, true, true, true, true, DType.Float64)]
    [InlineData(true, false, true, true, false, DType.Float64)]
    [InlineData(false, true, false, false, true, DType.Float64)]
    [InlineData(true, false, false, true, true, DType.Float64)]
    [InlineData(false, true, true, false, false, DType.Float64)]
    [InlineData(true, true, true, true, true, DType.Float32)]
    public void Fused_decoding_matches_the_composed_primal_form(bool w0, bool norm, bool residual, bool learnableLr, bool bias, DType dtype)
    {
        // Heads of d = 20: vector loops with a remainder in float32 (8 or 16 lanes) and float64 (4 or 8).
        var config = Config(k: 4, w0: w0, norm: norm, residual: residual, learnableLr: learnableLr, eta: 0.05, mamba: true, bias: bias);
        config.HiddenSize = 40;
        config.IntermediateSize = 80;
        var layer = new TTTLayer(config, new Generator(70), dtype: dtype);
        LayerTestSupport.Randomize(layer, 71);
        var x = Tensor.RandN([2, 13, 40], new Generator(72), DType.Float64).To(dtype);
        (Tensor Output, Tensor[] State) Decode(bool fused)
        {
            using var scope = TttFused.Override(fused);
            using var noGrad = GradMode.Disable();
            var cache = new TTTLayerCache();
            var steps = new List<Tensor> { layer.Forward(x.Narrow(1, 0, 3), cache) };
            for (int t = 3; t < x.Shape[1]; t++) steps.Add(layer.Forward(x.Narrow(1, t, 1), cache));
            return (Tensor.Cat(steps, 1), layer.CurrentState(cache));
        }
        var composed = Decode(fused: false);
        var fusedRun = Decode(fused: true);
        double tol = dtype == DType.Float64 ? 1e-12 : 2e-5;
        Assert.True(LayerTestSupport.Rel(composed.Output, fusedRun.Output) < tol, $"output: {LayerTestSupport.Rel(composed.Output, fusedRun.Output)}");
        for (int i = 0; i < composed.State.Length; i++)
            Assert.True(LayerTestSupport.Rel(composed.State[i], fusedRun.State[i]) < tol, $"state {i}: {LayerTestSupport.Rel(composed.State[i], fusedRun.State[i])}");
    }

    // ------------------------------------------------------------------ config

    /// <summary>A model with every switch off saves its config and weights and loads back to the same function.</summary>
    [Fact]
    public void Ablated_models_save_and_load()
    {
        var config = Config(k: 5, w0: false, norm: false, residual: false, learnableLr: false, eta: 0.25, mamba: true, bias: false);
        var model = new TTTForCausalLM(config, new Generator(60), dtype: DType.Float64);
        var folder = Path.Combine(Path.GetTempPath(), "ttt-ablation-" + Guid.NewGuid().ToString("N"));
        try
        {
            ModelZoo.Save(folder, model);
            var loaded = ModelZoo.Load(folder, DType.Float64);
            var ids = Tensor.FromArray(new long[] { 1, 4, 2, 7, 7, 0, 3, 12, 5, 6, 1 }, [1, 11]);
            Assert.True(LayerTestSupport.Rel(model.Forward(ids), loaded.Forward(ids)) < 1e-14);
            Assert.Equal(model.ParameterCount(), loaded.ParameterCount());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Official_configs_omit_the_switches_and_ablated_ones_round_trip()
    {
        var official = TTTConfig.Preset("tiny", 16);
        Assert.True(official.IsOfficialInnerLoop);
        Assert.DoesNotContain("learnable_init_state", official.ToJson(), StringComparison.Ordinal);
        var ablated = Config(k: 7, w0: false, norm: true, residual: false, learnableLr: false, eta: 0.25);
        var json = ablated.ToJson();
        Assert.Contains("\"use_ttt_residual\": false", json, StringComparison.Ordinal);
        var back = TTTConfig.Parse(json);
        Assert.Equal((false, true, false, false, 0.25, 7), (back.LearnableInitState, back.UseTttNorm, back.UseTttResidual, back.LearnableTttLr, back.TttFixedLr, back.MiniBatchSize));
        Assert.Throws<InvalidDataException>(() => TTTConfig.Parse(json.Replace("0.25", "-1", StringComparison.Ordinal)));
        var mlpWithoutBias = TTTConfig.Preset("tiny", 16, "mlp");
        mlpWithoutBias.UseTttBias = false;
        Assert.Throws<InvalidDataException>(() => mlpWithoutBias.Validate());
    }
}
