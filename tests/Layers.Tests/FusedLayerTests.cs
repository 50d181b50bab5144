using FsCheck;
using FsCheck.Fluent;
using Ttt.Models;

namespace Ttt.Tests;

/// <summary>
/// The fused scan inside <see cref="TTTLayer"/>: the routing rule, the layer and model suites with the fused path
/// on, and the layer with the fused path against the layer with the composed path (outputs, carried state, input
/// and parameter gradients, scan checkpointing included).
/// </summary>
public class FusedLayerTests
{
    public static TheoryData<string, DType> GoldenLayerCases()
    {
        var data = new TheoryData<string, DType>();
        foreach (var c in Fixtures.Cases("layer"))
            foreach (var t in new[] { DType.Float64, DType.Float32 }) data.Add(c, t);
        return data;
    }

    public static TheoryData<string, DType> GoldenModelCases()
    {
        var data = new TheoryData<string, DType>();
        foreach (var c in Fixtures.Cases("model"))
            foreach (var t in new[] { DType.Float64, DType.Float32 }) data.Add(c, t);
        return data;
    }

    [Theory]
    [MemberData(nameof(GoldenLayerCases))]
    public void Golden_layer_cases_pass_with_the_fused_path(string name, DType dtype)
    {
        using var _ = TttFused.Override(true);
        new GoldenTests().Layer_matches_the_golden_case(name, dtype, InnerLoopMode.Dual);
    }

    [Theory]
    [MemberData(nameof(GoldenModelCases))]
    public void Golden_model_cases_pass_with_the_fused_path(string name, DType dtype)
    {
        using var _ = TttFused.Override(true);
        new GoldenTests().Model_matches_the_golden_case(name, dtype, InnerLoopMode.Dual);
    }

    [Fact]
    public void Fused_dual_form_agrees_with_the_autograd_and_primal_inner_loops()
    {
        using var _ = TttFused.Override(true);
        var t = new InnerLoopEquivalenceTests();
        t.Ttt_linear_dual_autograd_and_primal_forms_agree();
        t.Ttt_mlp_dual_autograd_and_primal_forms_agree();
    }

    [Theory]
    [InlineData("linear", true)]
    [InlineData("linear", false)]
    [InlineData("mlp", true)]
    [InlineData("mlp", false)]
    public void Outer_gradients_through_the_fused_path_match_finite_differences(string inner, bool mamba)
    {
        using var _ = TttFused.Override(true);
        new ModelTests().Outer_gradients_of_a_tiny_model_match_finite_differences(inner, mamba);
    }

    [Fact]
    public void Prefill_then_decode_matches_the_fused_full_forward()
    {
        using var _ = TttFused.Override(true);
        new ModelTests().Prefill_then_decode_gives_the_logits_of_the_full_forward();
    }

    private static bool HasFusedNode(Tensor output)
    {
        var seen = new HashSet<GradNode>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<GradNode>();
        if (output.GradFn is { } root) stack.Push(root);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            if (!seen.Add(node)) continue;
            if (node.Name == "ttt_fused_scan") return true;
            foreach (var next in node.NextNodes()) stack.Push(next);
        }
        return false;
    }

    [Fact]
    public void The_layer_routes_to_the_fused_op_exactly_when_it_applies()
    {
        var config = LayerTestSupport.Config(12, 2, 4, "linear", mamba: true);
        var x = Tensor.RandN([1, 11, 12], new Generator(2), DType.Float64);
        bool Routed(InnerModel inner, InnerLoopMode mode, bool enabled)
        {
            var layer = new TTTLayer(config, new Generator(1), inner, DType.Float64) { Mode = mode };
            using var _ = TttFused.Override(enabled);
            return HasFusedNode(layer.Forward(x));
        }
        Assert.True(Routed(new LinearInner(), InnerLoopMode.Dual, enabled: true));
        Assert.True(Routed(new MlpInner(), InnerLoopMode.Dual, enabled: true));
        Assert.True(Routed(new MlpInner { ExactGeluDerivative = true }, InnerLoopMode.Dual, enabled: true));
        Assert.False(Routed(new LinearInner(), InnerLoopMode.Dual, enabled: false));
        Assert.False(Routed(new LinearInner(), InnerLoopMode.Autograd, enabled: true));
        Assert.False(Routed(new GatedLinearInner(), InnerLoopMode.Dual, enabled: true));
        Assert.True(TttFused.Supports(new MlpInner()));
        Assert.False(TttFused.Supports(new GatedLinearInner()));
    }

    public sealed record LayerCase(int B, int T, int Heads, int HeadDim, int K, string Inner, bool Mamba, int Group, ulong Seed)
    {
        public override string ToString() => $"B={B} T={T} H={Heads} d={HeadDim} K={K} inner={Inner} mamba={Mamba} checkpoint={Group} seed={Seed}";
    }

    private static Gen<LayerCase> LayerCases(string inner) =>
        from b in Gen.Choose(1, 2)
        from k in Gen.Choose(2, 6)
        from t in Gen.Choose(1, 4 * k + 3)
        from h in Gen.Choose(1, 3)
        from d in Gen.Elements(4, 6, 8, 10, 18)   // even (RoPE); 6, 10, 18 are not multiples of the register width
        from mamba in Gen.Elements(true, false)
        from grp in Gen.Elements(0, 0, 2, 3)
        from seed in Gen.Choose(0, 1 << 30)
        select new LayerCase(b, t, h, d, k, inner, mamba, grp, (ulong)seed);

    /// <summary>The layer with the fused path equals the layer with the composed path in float64 to 1e-11.</summary>
    private static bool LayerAgrees(LayerCase c)
    {
        var config = LayerTestSupport.Config(c.Heads * c.HeadDim, c.Heads, c.K, c.Inner == "linear" ? "linear" : "mlp", c.Mamba);
        config.ScanCheckpointGroupSize = c.Group;
        InnerModel model = c.Inner switch { "linear" => new LinearInner(), "mlp" => new MlpInner(), _ => new MlpInner { ExactGeluDerivative = true } };
        var layer = new TTTLayer(config, new Generator(c.Seed), model, DType.Float64);
        LayerTestSupport.Randomize(layer, c.Seed);
        layer.Train();
        var x = Tensor.RandN([c.B, c.T, config.HiddenSize], new Generator(c.Seed + 1), DType.Float64);
        (Tensor Y, Tensor[] State, Tensor[] Grads, bool Fused) Run(bool fused)
        {
            using var _ = TttFused.Override(fused);
            var xi = x.Detach().RequireGrad();
            var (y, state) = layer.ForwardWithState(xi);
            var gen = new Generator(c.Seed ^ 0x5EED);
            var objective = (y * Tensor.RandN(y.ShapeArray(), gen, DType.Float64)).Sum();
            foreach (var s in state) objective += (s * Tensor.RandN(s.ShapeArray(), gen, DType.Float64)).Sum();
            return (y, state, Autograd.Grad([objective], [xi, .. layer.Parameters()]), HasFusedNode(y));
        }
        var composed = Run(false);
        var fused = Run(true);
        if (composed.Fused || !fused.Fused) throw new InvalidOperationException($"{c}: routing: composed run fused={composed.Fused}, fused run fused={fused.Fused}");
        var names = layer.NamedParameters().Select(p => p.Name).Prepend("input").ToArray();
        void Same(string what, Tensor e, Tensor a)
        {
            double err = LayerTestSupport.Rel(e, a);
            if (!(err <= 1e-11)) throw new InvalidOperationException($"{c}: {what} differs by {err:G3}");
        }
        Same("output", composed.Y, fused.Y);
        for (int i = 0; i < composed.State.Length; i++) Same($"state {i}", composed.State[i], fused.State[i]);
        for (int i = 0; i < names.Length; i++) Same($"grad of {names[i]}", composed.Grads[i], fused.Grads[i]);
        return true;
    }

    [Fact]
    public void Linear_layer_with_the_fused_path_equals_the_composed_layer() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(25), Prop.ForAll(LayerCases("linear").ToArbitrary(), LayerAgrees));

    [Fact]
    public void Mlp_layer_with_the_fused_path_equals_the_composed_layer() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(15), Prop.ForAll(Gen.OneOf(LayerCases("mlp"), LayerCases("mlp-exact")).ToArbitrary(), LayerAgrees));

    [Theory]
    [InlineData("linear")]
    [InlineData("mlp")]
    public void Fused_scan_checkpointing_keeps_fewer_states_and_the_same_gradients(string inner)
    {
        using var _ = TttFused.Override(true);
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
            long retained = Autograd.SavedBytes(objective);
            return (Autograd.Grad([objective], [xi, .. layer.Parameters()]), retained);
        }
        var plain = Run(0);
        var checkpointed = Run(4);
        config.ScanCheckpointGroupSize = 0;
        for (int i = 0; i < plain.Grads.Length; i++)
            Assert.True(LayerTestSupport.Rel(plain.Grads[i], checkpointed.Grads[i]) < 1e-12, $"gradient {i} differs");
        // 65 mini-batches: 65 boundary states per (b, h) without checkpointing, 17 with groups of 4.
        int d = 8, stateElements = inner == "linear" ? d * d + d : 8 * d * d + 5 * d;
        Assert.Equal(2L * 4 * (65 - 17) * stateElements * sizeof(double), plain.RetainedBytes - checkpointed.RetainedBytes);
    }
}
