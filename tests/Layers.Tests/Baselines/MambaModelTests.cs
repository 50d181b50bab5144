using FsCheck;
using FsCheck.Fluent;
using Ttt.Models;
using Ttt.Nn;

namespace Ttt.Tests.Baselines;

/// <summary>
/// The Mamba language model: recurrent decoding against the full forward, gradients against finite differences,
/// mamba_ssm's parameter names, shapes and initialization, determinism from the seed, sizes of the presets.
/// </summary>
public class MambaModelTests
{
    internal static MambaConfig TinyConfig(int layers = 2, bool rmsNorm = true, bool tie = true, int dConv = 3) => new()
    {
        DModel = 8,
        NLayer = layers,
        VocabSize = 13,
        DState = 3,
        DConv = dConv,
        Expand = 2,
        RmsNorm = rmsNorm,
        TieEmbeddings = tie,
    };

    /// <summary>
    /// Moves every parameter off its structured init so that each term matters: weights N(0, 1/fan_in), norm
    /// scales around 1, A_log around ln(n+1), Δ around 0.3 after softplus, D around 1.
    /// </summary>
    internal static void Randomize(Module model, ulong seed)
    {
        var gen = new Generator(seed);
        using var _ = GradMode.Disable();
        foreach (var (name, p) in model.NamedParameters())
        {
            var shape = p.ShapeArray();
            Tensor v = name switch
            {
                _ when name.EndsWith("norm.weight", StringComparison.Ordinal) || name.EndsWith("norm_f.weight", StringComparison.Ordinal)
                    => Tensor.RandN(shape, gen, p.DType, 1, 0.2),
                _ when name.EndsWith("A_log", StringComparison.Ordinal)
                    => Tensor.RandN(shape, gen, p.DType, 0, 0.3) + Tensor.Arange(1, shape[1] + 1, 1, p.DType).Log(),
                _ when name.EndsWith("dt_proj.bias", StringComparison.Ordinal) => Tensor.RandN(shape, gen, p.DType, -1, 0.5),
                _ when name.EndsWith(".D", StringComparison.Ordinal) => Tensor.RandN(shape, gen, p.DType, 1, 0.3),
                _ when shape.Length >= 2 && !name.Contains("conv", StringComparison.Ordinal)
                    => Tensor.RandN(shape, gen, p.DType, 0, 1.0 / Math.Sqrt(shape[^1])),
                _ => Tensor.RandN(shape, gen, p.DType, 0, 0.3),
            };
            p.CopyFrom(v);
        }
    }

    private static MambaForCausalLM TinyModel(MambaConfig config, ulong seed, int chunk)
    {
        var model = new MambaForCausalLM(config, new Generator(seed), DType.Float64);
        Randomize(model, seed + 1);
        foreach (var block in model.Backbone.Layers) block.Mixer.ScanChunkSize = chunk;
        return model;
    }

    private static Tensor Ids(int b, int t, int vocab, ulong seed) => Tensor.RandInt([b, t], 0, vocab, new Generator(seed));

    public sealed record DecodeCase(int Layers, bool RmsNorm, bool Tie, int DConv, int Chunk, int T, int R, bool OneCall, ulong Seed)
    {
        public override string ToString() =>
            $"layers={Layers} rms={RmsNorm} tie={Tie} d_conv={DConv} chunk={Chunk} T={T} r={R} oneCall={OneCall} seed={Seed}";
    }

    [Fact]
    public void Prefill_then_decode_gives_the_logits_of_the_full_forward()
    {
        // Prefill T − r tokens (sometimes fewer than the conv window), then r tokens one at a time (or in one
        // continuation call): every position's logits must equal the full-sequence forward's.
        var gen = from layers in Gen.Choose(1, 2)
                  from rms in Gen.Elements(true, false)
                  from tie in Gen.Elements(true, false)
                  from dConv in Gen.Choose(2, 4)
                  from chunk in Gen.Choose(1, 5)
                  from t in Gen.Choose(2, 12)
                  from r in Gen.Choose(1, t - 1)
                  from oneCall in Gen.Elements(false, false, true)
                  from seed in Gen.Choose(0, 1 << 30)
                  select new DecodeCase(layers, rms, tie, dConv, chunk, t, r, oneCall, (ulong)seed);
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(30), Prop.ForAll(gen.ToArbitrary(), c =>
        {
            var config = TinyConfig(c.Layers, c.RmsNorm, c.Tie, c.DConv);
            var model = TinyModel(config, c.Seed, c.Chunk);
            var ids = Ids(2, c.T, config.VocabSize, c.Seed);
            using var _ = GradMode.Disable();
            var full = model.Forward(ids);
            var cache = (MambaCache)model.NewCache(2);
            var prefill = model.Forward(ids.Narrow(1, 0, c.T - c.R), cache);
            double err = LayerTestSupport.Rel(full.Narrow(1, 0, c.T - c.R), prefill);
            if (c.OneCall)
                err = Math.Max(err, LayerTestSupport.Rel(full.Narrow(1, c.T - c.R, c.R), model.Forward(ids.Narrow(1, c.T - c.R, c.R), cache)));
            else
                for (int i = c.T - c.R; i < c.T; i++)
                    err = Math.Max(err, LayerTestSupport.Rel(full.Narrow(1, i, 1), model.Forward(ids.Narrow(1, i, 1), cache)));
            Assert.Equal(c.T, cache.Position);
            foreach (var layer in cache.Layers)
            {
                // The state is the same size however long the context: the conv window and h.
                Assert.Equal([2, c.DConv - 1, config.DInner], layer.ConvWindow!.ShapeArray());
                Assert.Equal([2, config.DInner, config.DState], layer.SsmState!.ShapeArray());
            }
            return err <= 1e-10 ? true : throw new InvalidOperationException($"{c}: decode differs from the full forward by {err:G3}");
        }));
    }

    [Fact]
    public void Gradients_of_a_tiny_model_match_finite_differences()
    {
        // Central differences of the loss for two elements of every parameter; T = 7 with scan chunks of 3, so
        // the kernel's chunk boundaries lie inside the sequence; untied head and LayerNorms in a second model.
        foreach (var config in new[] { TinyConfig(), TinyConfig(rmsNorm: false, tie: false) })
        {
            var model = TinyModel(config, 77, chunk: 3);
            var ids = Ids(2, 7, config.VocabSize, 78);
            double Loss() => MambaForCausalLM.Loss(model.Forward(ids), ids).Item();
            var loss = MambaForCausalLM.Loss(model.Forward(ids), ids);
            var gen = new Generator(79);
            var parameters = model.NamedParameters().ToArray();
            var grads = Autograd.Grad([loss], parameters.Select(p => p.Tensor).ToArray());
            for (int pi = 0; pi < parameters.Length; pi++)
                Assert.True(grads[pi].ToDoubleArray().Any(v => v != 0), $"{parameters[pi].Name} receives no gradient");
            var failures = ParameterGradientCheck.Failures(parameters, grads, Loss, gen);
            Assert.True(failures.Count == 0, string.Join("\n", failures));
        }
    }

    [Fact]
    public void Parameter_names_and_shapes_are_those_of_mamba_ssm()
    {
        var config = TinyConfig(layers: 2, dConv: 4);
        int d = 8, e = 16, n = 3, r = 1, w = 4, v = 13;
        var expected = new Dictionary<string, int[]> { ["backbone.embedding.weight"] = [v, d], ["backbone.norm_f.weight"] = [d] };
        for (int i = 0; i < 2; i++)
        {
            string m = $"backbone.layers.{i}.mixer.";
            expected[m + "in_proj.weight"] = [2 * e, d];
            expected[m + "conv1d.weight"] = [e, 1, w];
            expected[m + "conv1d.bias"] = [e];
            expected[m + "x_proj.weight"] = [r + 2 * n, e];
            expected[m + "dt_proj.weight"] = [e, r];
            expected[m + "dt_proj.bias"] = [e];
            expected[m + "A_log"] = [e, n];
            expected[m + "D"] = [e];
            expected[m + "out_proj.weight"] = [d, e];
            expected[$"backbone.layers.{i}.norm.weight"] = [d];
        }
        var model = new MambaForCausalLM(config, new Generator(1));
        var actual = model.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor.ShapeArray());
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, shape) in expected) Assert.Equal(shape, actual[name]);
        Assert.Equal("mamba", model.Architecture);
        Assert.Equal(13, model.VocabSize);

        var untied = new MambaForCausalLM(TinyConfig(tie: false, rmsNorm: false), new Generator(1));
        var names = untied.NamedParameters().Select(p => p.Name).ToHashSet();
        Assert.Contains("lm_head.weight", names);
        Assert.Contains("backbone.layers.1.norm.bias", names);
        Assert.Contains("backbone.norm_f.bias", names);
    }

    [Fact]
    public void Initialization_follows_mamba_ssm()
    {
        var config = new MambaConfig { DModel = 64, NLayer = 3, VocabSize = 50, DtMin = 0.001, DtMax = 0.1, DtInitFloor = 1e-4 };
        var model = new MambaForCausalLM(config, new Generator(3), DType.Float64);
        var mixer = model.Backbone.Layers[1].Mixer;
        int e = config.DInner, n = config.DState;
        var aLog = mixer.ALog.ToDoubleArray();
        for (int i = 0; i < e * n; i++) Assert.Equal(Math.Log(i % n + 1), aLog[i], 14);
        Assert.All(mixer.D.ToDoubleArray(), v => Assert.Equal(1.0, v));

        // Δ at init = softplus(dt_proj.bias): inside [dt_min, dt_max], spread log-uniformly (mean of ln Δ at the
        // middle of the range: ±0.35 is 4 standard errors for 128 samples of a uniform of width ln 100).
        var dt = mixer.DtProj.Bias!.Softplus().ToDoubleArray();
        Assert.All(dt, v => Assert.InRange(v, config.DtMin * (1 - 1e-9), config.DtMax * (1 + 1e-9)));
        double meanLog = dt.Average(Math.Log), middle = (Math.Log(config.DtMin) + Math.Log(config.DtMax)) / 2;
        Assert.InRange(meanLog, middle - 0.35, middle + 0.35);

        void Uniform(Tensor weight, double bound, string name)
        {
            var values = weight.ToDoubleArray();
            double max = values.Max(Math.Abs);
            Assert.True(max <= bound && max > 0.9 * bound, $"{name}: max |w| = {max}, expected just below {bound}");
        }
        Uniform(mixer.InProj.Weight, 1 / Math.Sqrt(64), "in_proj");
        Uniform(mixer.XProj.Weight, 1 / Math.Sqrt(e), "x_proj");
        Uniform(mixer.DtProj.Weight, 1 / Math.Sqrt(config.ResolvedDtRank), "dt_proj");
        Uniform(mixer.OutProj.Weight, 1 / Math.Sqrt(e) / Math.Sqrt(config.NLayer), "out_proj");
        Uniform(mixer.Conv1d.Weight, 1 / Math.Sqrt(config.DConv), "conv1d");
        var emb = model.Backbone.Embedding.Weight.ToDoubleArray();
        double std = Math.Sqrt(emb.Average(v => v * v));
        Assert.InRange(std, 0.018, 0.022);
    }

    [Fact]
    public void The_seed_alone_determines_the_weights()
    {
        var config = TinyConfig();
        var a = new MambaForCausalLM(config, new Generator(7)).StateDict();
        var b = new MambaForCausalLM(config, new Generator(7)).StateDict();
        var c = new MambaForCausalLM(config, new Generator(8)).StateDict();
        foreach (var (name, t) in a) Assert.True(Tensor.AllEqual(t, b[name]), $"{name} differs between two models of seed 7");
        Assert.False(Tensor.AllEqual(a["backbone.layers.0.mixer.in_proj.weight"], c["backbone.layers.0.mixer.in_proj.weight"]));
        Assert.False(Tensor.AllEqual(a["backbone.layers.1.mixer.dt_proj.bias"], c["backbone.layers.1.mixer.dt_proj.bias"]));
    }

    [Fact]
    public void Saved_state_loads_into_another_model()
    {
        foreach (var tie in new[] { true, false })
        {
            var config = TinyConfig(tie: tie);
            var source = TinyModel(config, 4, SelectiveScan.DefaultChunkSize);
            var state = source.StateToSave().ToDictionary(kv => kv.Key, kv => kv.Value);
            // mamba_ssm's state dict holds the tied head under its own name too.
            Assert.True(state.ContainsKey("lm_head.weight"));
            var target = new MambaForCausalLM(config, new Generator(99), DType.Float64);
            target.LoadSaved(state);
            var ids = Ids(1, 5, config.VocabSize, 5);
            using var _ = GradMode.Disable();
            Assert.Equal(source.Forward(ids).ToDoubleArray(), target.Forward(ids).ToDoubleArray());
            var json = MambaConfig.Parse(source.ConfigJson());
            Assert.Equal(config.ToJson(), json.ToJson());
        }
    }

    [Fact]
    public void Parameter_count_is_counted_without_building_the_model()
    {
        foreach (var config in new[]
        {
            TinyConfig(), TinyConfig(rmsNorm: false, tie: false),
            new MambaConfig { DModel = 40, NLayer = 3, VocabSize = 13, PadVocabSizeMultiple = 8, DtRank = 5, DState = 7, Expand = 3 },
        })
            Assert.Equal(new MambaForCausalLM(config, new Generator(1)).ParameterCount(), config.ParameterCount());
    }

    [Theory]
    [InlineData("125m", 130e6)]
    [InlineData("350m", 370e6)]
    [InlineData("760m", 790e6)]
    [InlineData("1.3b", 1.4e9)]
    public void Paper_presets_have_the_sizes_of_the_Mamba_paper(string name, double paperSize)
    {
        // The Mamba paper's models with the GPT-NeoX vocabulary padded to 50280.
        var config = MambaConfig.Preset(name, 50280);
        Assert.InRange(config.ParameterCount(), 0.97 * paperSize, 1.03 * paperSize);
    }

    [Theory]
    [InlineData("tiny", 64, 2, 128)]
    [InlineData("tiny", 64, 2, 32000)]
    [InlineData("small", 128, 4, 128)]
    [InlineData("small", 128, 4, 32000)]
    public void Small_presets_match_the_size_of_a_TTT_model(string name, int hidden, int layers, int vocab)
    {
        // The TTT model they are compared with: TTT-Linear with the Mamba backbone (the paper's default), SwiGLU
        // of width 2·hidden, 4 heads, as the golden fixtures are built.
        var ttt = new TTTConfig
        {
            VocabSize = vocab, HiddenSize = hidden, IntermediateSize = 2 * hidden, NumHiddenLayers = layers,
            NumAttentionHeads = 4, PreConv = true, ShareQk = true, UseGate = true,
        };
        long tttCount = new TTTForCausalLM(ttt, new Generator(1)).ParameterCount();
        var mamba = MambaConfig.Preset(name, vocab);
        Assert.Equal(hidden, mamba.DModel);
        long mambaCount = new MambaForCausalLM(mamba, new Generator(1)).ParameterCount();
        // Whole layers cannot match exactly: tiny is 11 % above at vocabulary 128 (2 layers would be 23 % below).
        Assert.InRange((double)mambaCount / tttCount, 0.85, 1.15);
    }
}
