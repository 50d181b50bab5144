using FsCheck;
using FsCheck.Fluent;
using Ttt.Models;

namespace Ttt.Tests;

/// <summary>
/// The Transformer baseline: an independent plain-loop implementation of spec §2.2 as the oracle for the whole
/// forward; decoding with the KV cache against the full forward; finite differences of the loss; names, counts,
/// init, save/load.
/// </summary>
public class TransformerModelTests
{
    private static TransformerConfig TinyConfig(int hidden = 8, int heads = 2, int layers = 2, int vocab = 11, bool tied = true) => new()
    {
        VocabSize = vocab,
        HiddenSize = hidden,
        IntermediateSize = 2 * hidden + 2,
        NumHiddenLayers = layers,
        NumAttentionHeads = heads,
        TieWordEmbeddings = tied,
        RopeTheta = 10000,
        RmsNormEps = 1e-6,
        MaxPositionEmbeddings = 8, // small, so longer inputs exercise the RoPE table growth
    };

    private static TransformerForCausalLM TinyModel(ulong seed, TransformerConfig? config = null)
    {
        var model = new TransformerForCausalLM(config ?? TinyConfig(), new Generator(seed), DType.Float64);
        LayerTestSupport.Randomize(model, seed); // weights of O(1/√fan-in) and norms around 1: every term matters
        return model;
    }

    private static Tensor Ids(int b, int t, int vocab, ulong seed) => Tensor.RandInt([b, t], 0, vocab, new Generator(seed));

    // ---------------------------------------------------------------------------------------------- oracle

    /// <summary>
    /// Logits [B, T, V] computed with plain loops over doubles straight from the spec: pre-RMSNorm blocks,
    /// per-head causal softmax attention with interleaved-pair RoPE at absolute positions and scale 1/√d, SwiGLU,
    /// final RMSNorm, head = embedding (or lm_head) transposed. Parameters are read by their Llama names.
    /// </summary>
    private static double[,,] NaiveLogits(TransformerForCausalLM model, long[,] ids)
    {
        var c = model.Config;
        var p = model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());
        int b = ids.GetLength(0), t = ids.GetLength(1), d = c.HiddenSize, f = c.IntermediateSize, heads = c.NumAttentionHeads, hd = d / heads, v = c.VocabSize;
        double eps = c.RmsNormEps;
        double[] MatVec(double[] w, int rows, int cols, double[] x) // w [rows, cols] row-major
        {
            var y = new double[rows];
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) y[i] += w[i * cols + j] * x[j];
            return y;
        }
        double[] RmsNorm(double[] x, double[] w)
        {
            double ms = x.Sum(e => e * e) / x.Length;
            double inv = 1 / Math.Sqrt(ms + eps);
            return x.Select((e, i) => e * inv * w[i]).ToArray();
        }
        double[] RopeAt(double[] x, int pos)
        {
            var y = (double[])x.Clone();
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < hd / 2; i++)
                {
                    double angle = pos * Math.Pow(c.RopeTheta, -2.0 * i / hd);
                    double x0 = x[h * hd + 2 * i], x1 = x[h * hd + 2 * i + 1];
                    y[h * hd + 2 * i] = x0 * Math.Cos(angle) - x1 * Math.Sin(angle);
                    y[h * hd + 2 * i + 1] = x0 * Math.Sin(angle) + x1 * Math.Cos(angle);
                }
            return y;
        }
        var emb = p["model.embed_tokens.weight"];
        var head = c.TieWordEmbeddings ? emb : p["lm_head.weight"];
        var logits = new double[b, t, v];
        for (int s = 0; s < b; s++)
        {
            var h = new double[t][];
            for (int i = 0; i < t; i++) h[i] = emb.AsSpan((int)ids[s, i] * d, d).ToArray();
            for (int l = 0; l < c.NumHiddenLayers; l++)
            {
                string pre = $"model.layers.{l}.";
                var q = new double[t][];
                var k = new double[t][];
                var val = new double[t][];
                for (int i = 0; i < t; i++)
                {
                    var x = RmsNorm(h[i], p[pre + "input_layernorm.weight"]);
                    q[i] = RopeAt(MatVec(p[pre + "self_attn.q_proj.weight"], d, d, x), i);
                    k[i] = RopeAt(MatVec(p[pre + "self_attn.k_proj.weight"], d, d, x), i);
                    val[i] = MatVec(p[pre + "self_attn.v_proj.weight"], d, d, x);
                }
                for (int i = 0; i < t; i++)
                {
                    var att = new double[d];
                    for (int hh = 0; hh < heads; hh++)
                    {
                        var scores = new double[i + 1];
                        for (int j = 0; j <= i; j++)
                        {
                            for (int e = 0; e < hd; e++) scores[j] += q[i][hh * hd + e] * k[j][hh * hd + e];
                            scores[j] /= Math.Sqrt(hd);
                        }
                        double max = scores.Max(), sum = scores.Sum(e => Math.Exp(e - max));
                        for (int j = 0; j <= i; j++)
                            for (int e = 0; e < hd; e++) att[hh * hd + e] += Math.Exp(scores[j] - max) / sum * val[j][hh * hd + e];
                    }
                    var o = MatVec(p[pre + "self_attn.o_proj.weight"], d, d, att);
                    for (int e = 0; e < d; e++) h[i][e] += o[e];
                }
                for (int i = 0; i < t; i++)
                {
                    var x = RmsNorm(h[i], p[pre + "post_attention_layernorm.weight"]);
                    var gate = MatVec(p[pre + "mlp.gate_proj.weight"], f, d, x);
                    var up = MatVec(p[pre + "mlp.up_proj.weight"], f, d, x);
                    var act = gate.Select((g, e) => g / (1 + Math.Exp(-g)) * up[e]).ToArray();
                    var m = MatVec(p[pre + "mlp.down_proj.weight"], d, f, act);
                    for (int e = 0; e < d; e++) h[i][e] += m[e];
                }
            }
            for (int i = 0; i < t; i++)
            {
                var row = MatVec(head, v, d, RmsNorm(h[i], p["model.norm.weight"]));
                for (int e = 0; e < v; e++) logits[s, i, e] = row[e];
            }
        }
        return logits;
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 2)]
    public void Forward_matches_a_plain_loop_implementation_of_the_spec(bool tied, int layers)
    {
        var model = TinyModel(3, TinyConfig(layers: layers, tied: tied));
        var ids = Ids(2, 13, model.VocabSize, 4); // 13 > max_position_embeddings: the RoPE table must grow
        Tensor logits;
        using (GradMode.Disable()) logits = model.Forward(ids);
        var expected = NaiveLogits(model, To2D(ids));
        var actual = logits.ToDoubleArray();
        double maxErr = 0, maxAbs = 0;
        int n = 0;
        foreach (var e in expected)
        {
            maxErr = Math.Max(maxErr, Math.Abs(actual[n++] - e));
            maxAbs = Math.Max(maxAbs, Math.Abs(e));
        }
        // float64 on both sides; only summation order and exp/rsqrt rounding differ
        Assert.True(maxErr <= 1e-12 * Math.Max(maxAbs, 1), $"max |Δ| {maxErr:G3} for logits up to {maxAbs:G3}");
    }

    private static long[,] To2D(Tensor ids)
    {
        var flat = ids.ToLongArray();
        int b = ids.Shape[0], t = ids.Shape[1];
        var r = new long[b, t];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++) r[i, j] = flat[i * t + j];
        return r;
    }

    // ------------------------------------------------------------------------------------------- decoding

    public sealed record DecodeCase(int B, int T, int Prefill, int Step, int Layers, ulong Seed)
    {
        public override string ToString() => $"B={B} T={T} prefill={Prefill} step={Step} layers={Layers} seed={Seed}";
    }

    [Fact]
    public void Prefill_then_decode_gives_the_logits_of_the_full_forward()
    {
        // Prefill L − r tokens, then the rest one (or a few) tokens at a time; T up to 40 makes the cache buffers
        // (16 slots at first) grow while decoding.
        var gen = from b in Gen.Choose(1, 2)
                  from t in Gen.Choose(2, 40)
                  from prefill in Gen.Choose(1, t - 1)
                  from step in Gen.Elements(1, 1, 1, 3)
                  from layers in Gen.Choose(1, 2)
                  from seed in Gen.Choose(0, 1 << 30)
                  select new DecodeCase(b, t, prefill, step, layers, (ulong)seed);
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(25), Prop.ForAll(gen.ToArbitrary(), c =>
        {
            var model = TinyModel(c.Seed, TinyConfig(layers: c.Layers));
            var ids = Ids(c.B, c.T, model.VocabSize, c.Seed + 1);
            using var _ = GradMode.Disable();
            var full = model.Forward(ids);
            var cache = model.NewCache(c.B);
            double err = LayerTestSupport.Rel(full.Narrow(1, 0, c.Prefill), model.Forward(ids.Narrow(1, 0, c.Prefill), cache));
            for (int i = c.Prefill; i < c.T; i += c.Step)
            {
                int n = Math.Min(c.Step, c.T - i);
                err = Math.Max(err, LayerTestSupport.Rel(full.Narrow(1, i, n), model.Forward(ids.Narrow(1, i, n), cache)));
            }
            Assert.Equal(c.T, cache.Position);
            Assert.All(((TransformerCache)cache).Layers, kv => Assert.Equal(c.T, kv.Length));
            return err <= 1e-12 ? true : throw new InvalidOperationException($"{c}: decode differs from the full forward by {err:G3}");
        }));
    }

    [Fact]
    public void Decoding_recorded_for_autograd_gives_the_gradients_of_the_full_forward()
    {
        // With grad on, the cache grows by concatenation so the step's logits stay differentiable through the
        // cached keys and values.
        var model = TinyModel(21);
        var ids = Ids(1, 9, model.VocabSize, 22);
        var parameters = model.Parameters().ToArray();
        var r = Tensor.RandN([1, 1, model.VocabSize], new Generator(23), DType.Float64);
        var fullGrads = Autograd.Grad([(model.Forward(ids).Narrow(1, 8, 1) * r).Sum()], parameters);
        var cache = model.NewCache(1);
        model.Forward(ids.Narrow(1, 0, 6), cache);
        model.Forward(ids.Narrow(1, 6, 2), cache);
        var stepGrads = Autograd.Grad([(model.Forward(ids.Narrow(1, 8, 1), cache) * r).Sum()], parameters);
        for (int i = 0; i < parameters.Length; i++)
            Assert.True(LayerTestSupport.Rel(fullGrads[i], stepGrads[i]) < 1e-12, $"gradient of {model.NamedParameters().ElementAt(i).Name} differs");
    }

    [Fact]
    public void Cache_rejects_a_different_batch_and_foreign_caches()
    {
        var model = TinyModel(1);
        var cache = model.NewCache(2);
        var e = Assert.Throws<ArgumentException>(() => model.Forward(Ids(3, 2, model.VocabSize, 1), cache));
        Assert.Contains("2 sequences", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => model.Forward(Ids(1, 2, model.VocabSize, 1), new TTTCache(1)));
        Assert.Throws<ArgumentException>(() => model.Forward(Tensor.Zeros([1, 2], DType.Float64)));
    }

    // -------------------------------------------------------------------------------------------- gradients

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Gradients_of_a_tiny_model_match_finite_differences(bool tied)
    {
        // Central differences of the loss for two elements of every parameter; T = 70 > 64 spans two attention
        // blocks, so the kernel's multi-block backward is part of the check.
        var model = TinyModel(77, TinyConfig(tied: tied));
        var ids = Ids(2, 70, model.VocabSize, 78);
        double Loss() => CausalLM.NextTokenLoss(model.Forward(ids), ids).Item();
        var loss = CausalLM.NextTokenLoss(model.Forward(ids), ids);
        var gen = new Generator(79);
        var parameters = model.NamedParameters().ToArray();
        var grads = Autograd.Grad([loss], parameters.Select(p => p.Tensor).ToArray());
        var failures = ParameterGradientCheck.Failures(parameters, grads, Loss, gen);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Float32_model_agrees_with_float64()
    {
        var model64 = TinyModel(5, TinyConfig(hidden: 32, heads: 4));
        var model32 = new TransformerForCausalLM(TinyConfig(hidden: 32, heads: 4), new Generator(0), DType.Float32);
        model32.LoadStateDict(model64.StateDict());
        var ids = Ids(2, 90, model64.VocabSize, 6);
        using var _ = GradMode.Disable();
        // float32 rounding through 2 blocks of O(1) activations: ~1e-6 relative; 1e-4 leaves room for sums over T
        Assert.True(LayerTestSupport.Rel(model64.Forward(ids), model32.Forward(ids)) < 1e-4);
    }

    [Fact]
    public void Activation_memory_of_training_grows_linearly_with_the_sequence_length()
    {
        // What the recorded graph keeps for backward (activations, attention inputs and outputs, RoPE tables):
        // no T×T score matrix, so doubling T at most doubles it.
        var model = TinyModel(31, TinyConfig(hidden: 16, heads: 2));
        long Saved(int t)
        {
            var ids = Ids(1, t, model.VocabSize, (ulong)t);
            return Autograd.SavedBytes(CausalLM.NextTokenLoss(model.Forward(ids), ids));
        }
        long s256 = Saved(256), s512 = Saved(512), s1024 = Saved(1024);
        // About 5.6 KB per token here; one materialised [T, T] float64 score matrix per head (2 layers × 2 heads)
        // would add 32·T² bytes and push the second ratio to ≈ 3.5.
        Assert.True(s512 <= 2.05 * s256 && s1024 <= 2.05 * s512, $"saved bytes {s256}, {s512}, {s1024}");
    }

    // ----------------------------------------------------------------------------------- names, init, state

    [Fact]
    public void Parameters_have_the_hugging_face_llama_names()
    {
        var model = new TransformerForCausalLM(TinyConfig(layers: 1, tied: false), new Generator(1));
        string[] expected =
        [
            "model.embed_tokens.weight",
            "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
            "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight",
            "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight",
            "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
            "model.norm.weight", "lm_head.weight",
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), model.NamedParameters().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal([8, 8], model.NamedParameters().Single(p => p.Name.EndsWith("q_proj.weight", StringComparison.Ordinal)).Tensor.Shape.ToArray());
        Assert.Equal([18, 8], model.NamedParameters().Single(p => p.Name.EndsWith("gate_proj.weight", StringComparison.Ordinal)).Tensor.Shape.ToArray());
        Assert.Equal([8, 18], model.NamedParameters().Single(p => p.Name.EndsWith("down_proj.weight", StringComparison.Ordinal)).Tensor.Shape.ToArray());
        Assert.Equal("transformer", model.Architecture);
    }

    [Fact]
    public void Initialization_follows_the_spec_and_depends_only_on_the_seed()
    {
        var config = TransformerConfig.Preset("small", vocabSize: 1000);
        var a = new TransformerForCausalLM(config, new Generator(7));
        var b = new TransformerForCausalLM(config, new Generator(7));
        var c = new TransformerForCausalLM(config, new Generator(8));
        foreach (var (name, t) in a.NamedParameters())
        {
            var values = t.ToDoubleArray();
            if (name.EndsWith("norm.weight", StringComparison.Ordinal) || name.EndsWith("layernorm.weight", StringComparison.Ordinal))
                Assert.All(values, x => Assert.Equal(1.0, x));
            else
            {
                // N(0, 0.02²): with n ≥ 16384 samples the sample std is within 3 % and the mean within 5σ/√n
                double mean = values.Average(), std = Math.Sqrt(values.Sum(x => (x - mean) * (x - mean)) / values.Length);
                Assert.True(Math.Abs(std - 0.02) < 0.03 * 0.02, $"{name}: std {std}");
                Assert.True(Math.Abs(mean) < 5 * 0.02 / Math.Sqrt(values.Length), $"{name}: mean {mean}");
            }
        }
        Assert.True(a.NamedParameters().Zip(b.NamedParameters()).All(p => Tensor.AllEqual(p.First.Tensor, p.Second.Tensor)));
        Assert.False(Tensor.AllEqual(a.HeadWeight, c.HeadWeight));
        Assert.Same(a.Model.EmbedTokens.Weight, a.HeadWeight); // tied
    }

    [Fact]
    public void Parameter_count_matches_the_config_formula()
    {
        foreach (bool tied in new[] { true, false })
        {
            var config = TinyConfig(tied: tied);
            Assert.Equal(config.ParameterCount(), new TransformerForCausalLM(config, new Generator(1)).ParameterCount());
        }
    }

    [Fact]
    public void Saved_state_loads_back_and_a_tied_head_must_match_the_embedding()
    {
        var source = TinyModel(11);
        var state = source.StateToSave().ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.True(Tensor.AllEqual(state["lm_head.weight"], state["model.embed_tokens.weight"]));
        var target = new TransformerForCausalLM(TinyConfig(), new Generator(99), DType.Float64);
        target.LoadSaved(state);
        var ids = Ids(1, 6, source.VocabSize, 12);
        using (GradMode.Disable()) Assert.True(Tensor.AllEqual(source.Forward(ids), target.Forward(ids)));
        state.Remove("lm_head.weight");
        target.LoadSaved(state); // optional when tied
        state["lm_head.weight"] = Tensor.Zeros(state["model.embed_tokens.weight"].ShapeArray(), DType.Float64);
        Assert.Throws<InvalidDataException>(() => target.LoadSaved(state));
        Assert.Equal(source.Config.ToJson(), TransformerConfig.Parse(source.ConfigJson()).ToJson());
    }
}

/// <summary>
/// Time per generated token at several context lengths (explicit, not part of the test run; at this model size the
/// projections dominate, the attention share grows with L); run it with
/// <c>tests/Layers.Tests/bin/Release/net10.0/Ttt.Layers.Tests -class Ttt.Tests.TransformerDecodingBenchmark -explicit only -showLiveOutput</c>.
/// </summary>
public class TransformerDecodingBenchmark(ITestOutputHelper output)
{
    [Fact(Explicit = true)]
    public void Time_per_token_at_several_context_lengths()
    {
        var model = new TransformerForCausalLM(TransformerConfig.Preset("small", vocabSize: 256), new Generator(1));
        output.WriteLine($"preset small (D 128, 4 layers, 4 heads), float32, {Cpu.CpuParallel.Threads} threads");
        using var _ = GradMode.Disable();
        foreach (int context in new[] { 256, 1024, 4096 })
        {
            var ids = Tensor.RandInt([1, context + 32], 0, 256, new Generator((ulong)context));
            var cache = model.NewCache(1);
            var prefill = System.Diagnostics.Stopwatch.StartNew();
            model.Forward(ids.Narrow(1, 0, context), cache);
            double prefillMs = prefill.Elapsed.TotalMilliseconds;
            for (int i = 0; i < 8; i++) model.Forward(ids.Narrow(1, context + i, 1), cache); // warm-up steps
            var steps = new List<double>();
            for (int i = 8; i < 32; i++)
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                model.Forward(ids.Narrow(1, context + i, 1), cache);
                steps.Add(sw.Elapsed.TotalMilliseconds);
            }
            output.WriteLine($"context {context,5}: prefill {prefillMs,8:F1} ms, median {steps.Order().ElementAt(steps.Count / 2):F3} ms per token");
        }
    }
}
