using FsCheck;
using FsCheck.Fluent;
using Ttt.Models;

namespace Ttt.Tests;

/// <summary>Model-level properties: decoding cache, finite differences of outer gradients, scan checkpointing.</summary>
public class ModelTests
{
    private static TTTForCausalLM TinyModel(string inner, bool mamba, int k, ulong seed, int layers = 2)
    {
        var config = LayerTestSupport.Config(8, 2, k, inner, mamba, layers);
        var model = new TTTForCausalLM(config, new Generator(seed), _ => LayerTestSupport.Inner(inner), DType.Float64);
        LayerTestSupport.Randomize(model, seed);
        return model;
    }

    private static Tensor Ids(int b, int t, int vocab, ulong seed) => Tensor.RandInt([b, t], 0, vocab, new Generator(seed));

    public sealed record DecodeCase(string Inner, bool Mamba, int K, int T, int R, ulong Seed)
    {
        public override string ToString() => $"inner={Inner} mamba={Mamba} K={K} T={T} r={R} seed={Seed}";
    }

    [Fact]
    public void Prefill_then_decode_gives_the_logits_of_the_full_forward()
    {
        // Prefill L − r tokens, then r single-token steps (crossing mini-batch boundaries): every step's logits
        // must equal the full-sequence forward at that position.
        var gen = from inner in Gen.Elements("linear", "mlp")
                  from mamba in Gen.Elements(true, false)
                  from k in Gen.Choose(2, 4)
                  from t in Gen.Choose(2, 3 * k + 1)
                  from r in Gen.Choose(1, t - 1)
                  from seed in Gen.Choose(0, 1 << 30)
                  select new DecodeCase(inner, mamba, k, t, r, (ulong)seed);
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(25), Prop.ForAll(gen.ToArbitrary(), c =>
        {
            var model = TinyModel(c.Inner, c.Mamba, c.K, c.Seed);
            var ids = Ids(2, c.T, model.Config.VocabSize, c.Seed);
            using var _ = GradMode.Disable();
            var full = model.Forward(ids);
            var cache = model.NewCache();
            var prefill = model.Forward(ids.Narrow(1, 0, c.T - c.R), cache: cache);
            double err = LayerTestSupport.Rel(full.Narrow(1, 0, c.T - c.R), prefill);
            for (int i = c.T - c.R; i < c.T; i++)
            {
                var step = model.Forward(ids.Narrow(1, i, 1), cache: cache);
                err = Math.Max(err, LayerTestSupport.Rel(full.Narrow(1, i, 1), step));
            }
            Assert.Equal(c.T, cache.Position);
            return err <= 1e-10 ? true : throw new InvalidOperationException($"{c}: decode differs from the full forward by {err:G3}");
        }));
    }

    [Theory]
    [InlineData("linear", true)]
    [InlineData("linear", false)]
    [InlineData("mlp", true)]
    [InlineData("mlp", false)]
    public void Outer_gradients_of_a_tiny_model_match_finite_differences(string inner, bool mamba)
    {
        // Central differences of the loss for two elements of every parameter; k = 3, T = 8: two full
        // mini-batches and a remainder of 2, so the carried state and the remainder rule are both exercised.
        var model = TinyModel(inner, mamba, 3, 77);
        var ids = Ids(2, 8, model.Config.VocabSize, 78);
        double Loss() => TTTForCausalLM.Loss(model.Forward(ids), ids).Item();
        var loss = TTTForCausalLM.Loss(model.Forward(ids), ids);
        var gen = new Generator(79);
        var parameters = model.NamedParameters().ToArray();
        var grads = Autograd.Grad([loss], parameters.Select(p => p.Tensor).ToArray());
        var failures = ParameterGradientCheck.Failures(parameters, grads, Loss, gen);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData("linear")]
    [InlineData("mlp")]
    public void Scan_checkpointing_gives_the_same_gradients_with_less_memory(string inner)
    {
        // The composed scan's checkpointing (Checkpoint.Run over groups of mini-batches); the fused op keeps only
        // boundary states either way and has its own test (FusedLayerTests).
        using var composed = TttFused.Override(false);
        var config = LayerTestSupport.Config(32, 4, 4, inner, mamba: true, layers: 1);
        var layer = new TTTLayer(config, new Generator(5), LayerTestSupport.Inner(inner), DType.Float64);
        LayerTestSupport.Randomize(layer, 5);
        var x = Tensor.RandN([2, 4 * 64 + 3, 32], new Generator(6), DType.Float64);
        var weights = Tensor.RandN([2, 4 * 64 + 3, 32], new Generator(7), DType.Float64);

        (Tensor[] Grads, long RetainedBytes) Run(int group)
        {
            config.ScanCheckpointGroupSize = group;
            layer.Train();
            var xi = x.Detach().RequireGrad();
            var objective = (layer.Forward(xi) * weights).Sum();
            long retained = Autograd.SavedBytes(objective);        // what the recorded graph keeps for backward
            var grads = Autograd.Grad([objective], [xi, .. layer.Parameters()]);
            return (grads, retained);
        }
        var plain = Run(0);
        var checkpointed = Run(4);
        config.ScanCheckpointGroupSize = 0;
        for (int i = 0; i < plain.Grads.Length; i++)
            Assert.True(LayerTestSupport.Rel(plain.Grads[i], checkpointed.Grads[i]) < 1e-12, $"gradient {i} differs");
        // The projections, convs and RoPE keep their activations either way; the scan's per-mini-batch
        // intermediates (about 40 % of this layer's saved bytes here) are what checkpointing drops.
        Assert.True(checkpointed.RetainedBytes < plain.RetainedBytes * 0.75,
            $"checkpointing kept {checkpointed.RetainedBytes} bytes, without it {plain.RetainedBytes}");
    }
}
