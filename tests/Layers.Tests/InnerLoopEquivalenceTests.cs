using FsCheck;
using FsCheck.Fluent;
using Ttt.Models;

namespace Ttt.Tests;

/// <summary>
/// The three inner-loop paths compute the same function (spec "How Ttt uses this spec"): the analytic dual form,
/// the autograd inner loop (createGraph) and the token-by-token primal form of the decoding cache — outputs,
/// carried state and every outer gradient, in float64 to 1e-9 relative, for both inner models and both
/// backbones, on generated sizes including L &lt; K and L not a multiple of K.
/// </summary>
public class InnerLoopEquivalenceTests
{
    public sealed record Case(int B, int T, int Heads, int HeadDim, int K, string Inner, bool Mamba, ulong Seed)
    {
        public override string ToString() => $"B={B} T={T} H={Heads} d={HeadDim} K={K} inner={Inner} mamba={Mamba} seed={Seed}";
    }

    private static Gen<Case> Cases(string inner) =>
        from b in Gen.Choose(1, 2)
        from k in Gen.Choose(2, 4)
        from t in Gen.Choose(1, 3 * k + 2)
        from h in Gen.Choose(1, 2)
        // d ≥ 4: LayerNorm over 2 features is degenerate (x̂ = ±1) and ill-conditioned, which turns rounding
        // differences between the paths into 1e-9-level gaps that say nothing about the paths.
        from d in Gen.Elements(4, 6)
        from mamba in Gen.Elements(true, false)
        from seed in Gen.Choose(0, 1 << 30)
        select new Case(b, t, h, d, k, inner, mamba, (ulong)seed);

    private enum Path { Dual, Autograd, Primal }

    private sealed record Result(Tensor Output, Tensor[] State, Tensor[] Grads);

    private static Result Run(TTTLayer layer, Tensor xIn, Path path, ulong seed)
    {
        var x = xIn.Detach().RequireGrad();
        Tensor y;
        Tensor[] state;
        if (path == Path.Primal)
        {
            var cache = new TTTLayerCache();
            var steps = new List<Tensor>();
            for (int t = 0; t < x.Shape[1]; t++) steps.Add(layer.Forward(x.Narrow(1, t, 1), cache));
            y = Tensor.Cat(steps, 1);
            state = layer.CurrentState(cache);
        }
        else
        {
            layer.Mode = path == Path.Dual ? InnerLoopMode.Dual : InnerLoopMode.Autograd;
            (y, state) = layer.ForwardWithState(x);
        }
        // One objective touching the output and the carried state, with fixed random weights.
        var gen = new Generator(seed ^ 0x5EED);
        var objective = (y * Tensor.RandN(y.ShapeArray(), gen, DType.Float64)).Sum();
        foreach (var s in state) objective += (s * Tensor.RandN(s.ShapeArray(), gen, DType.Float64)).Sum();
        var inputs = new List<Tensor> { x };
        inputs.AddRange(layer.Parameters());
        var grads = Autograd.Grad([objective], inputs);
        return new Result(y, state, grads);
    }

    private static bool Equivalent(Case c)
    {
        var config = LayerTestSupport.Config(c.Heads * c.HeadDim, c.Heads, c.K, c.Inner, c.Mamba);
        var layer = new TTTLayer(config, new Generator(c.Seed), LayerTestSupport.Inner(c.Inner), DType.Float64);
        LayerTestSupport.Randomize(layer, c.Seed);
        var x = Tensor.RandN([c.B, c.T, config.HiddenSize], new Generator(c.Seed + 1), DType.Float64);
        var paths = c.Inner == "gated" ? new[] { Path.Autograd, Path.Primal } : [Path.Dual, Path.Autograd, Path.Primal];
        var results = paths.Select(p => Run(layer, x, p, c.Seed)).ToArray();
        var names = layer.NamedParameters().Select(p => p.Name).Prepend("input").ToArray();
        for (int r = 1; r < results.Length; r++)
        {
            void Same(string what, Tensor e, Tensor a)
            {
                double err = LayerTestSupport.Rel(e, a);
                if (!(err <= 1e-9)) throw new InvalidOperationException($"{c}: {paths[0]} vs {paths[r]}: {what} differs by {err:G3}");
            }
            Same("output", results[0].Output, results[r].Output);
            for (int i = 0; i < results[0].State.Length; i++) Same($"state {i}", results[0].State[i], results[r].State[i]);
            for (int i = 0; i < names.Length; i++) Same($"grad of {names[i]}", results[0].Grads[i], results[r].Grads[i]);
        }
        return true;
    }

    [Fact]
    public void Ttt_linear_dual_autograd_and_primal_forms_agree() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(30), Prop.ForAll(Cases("linear").ToArbitrary(), Equivalent));

    [Fact]
    public void Ttt_mlp_dual_autograd_and_primal_forms_agree() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(20), Prop.ForAll(Cases("mlp").ToArbitrary(), Equivalent));

    [Fact]
    public void A_custom_gated_inner_model_agrees_between_autograd_and_primal_forms() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(15), Prop.ForAll(Cases("gated").ToArbitrary(), Equivalent));

    [Fact]
    public void Official_truncated_gelu_derivative_differs_from_the_exact_one_only_at_1e_9()
    {
        var z = Tensor.Arange(-4, 4, 0.01, DType.Float64);
        var err = LayerTestSupport.Rel(z.GeluDerivative(), TttMath.GeluBackwardOfficial(z));
        Assert.InRange(err, 1e-12, 1e-8);
    }
}
