using FsCheck;
using FsCheck.Fluent;
using Ttt.Models;

namespace Ttt.Tests;

/// <summary>
/// The fused scan op (src/Layers/Ttt/Fused) against the composed dual form it replaces (<c>TttFused.Composed</c>:
/// <see cref="InnerModel.DualMiniBatch"/> per mini-batch, differentiated by autograd): outputs, final state and the
/// gradient of every input (θ0, Q, K, V, lr, τ, γ, β) on generated sizes — d not a multiple of the register width,
/// T &lt; K and T mod K ≠ 0, per-head and batched θ0, strided inputs, every register width and checkpoint groups.
/// </summary>
public class FusedScanTests
{
    public sealed record ScanCase(int B, int H, int T, int D, int K, string Inner, bool Batched, bool Strided, int Group, int Bits, ulong Seed)
    {
        public override string ToString() =>
            $"B={B} H={H} T={T} d={D} K={K} inner={Inner} batchedθ={Batched} strided={Strided} group={Group} bits={Bits} seed={Seed}";

        public InnerModel Model() => Inner switch
        {
            "linear" => new LinearInner(),
            "mlp-exact" => new MlpInner { ExactGeluDerivative = true },
            _ => new MlpInner(),
        };
    }

    public static Gen<ScanCase> Cases(string inner, int maxD = 20) =>
        from b in Gen.Choose(1, 2)
        from h in Gen.Choose(1, 3)
        from k in Gen.Choose(1, 20)
        from t in Gen.Choose(1, 3 * k + 5)
        // d ≥ 3: LayerNorm over 2 features is degenerate (x̂ = ±1); sizes straddle the register widths (4, 8, 16).
        from d in Gen.Choose(3, maxD)
        from batched in Gen.Elements(false, true)
        from strided in Gen.Elements(false, true)
        from grp in Gen.Elements(0, 1, 2, 3)
        from bits in Gen.Elements(0, 0, 256, 128)
        from seed in Gen.Choose(0, 1 << 30)
        select new ScanCase(b, h, t, d, k, inner, batched, strided, grp, bits, (ulong)seed);

    /// <summary>Inputs θ0…, q, k, v, lr, τ, γ, β with every value moved off its trivial init.</summary>
    public static Tensor[] Inputs(ScanCase c, DType dtype)
    {
        var gen = new Generator(c.Seed);
        var inner = c.Model();
        var list = new List<Tensor>();
        foreach (var p in inner.Parameters)
        {
            int[] per = p.Shape(c.D);
            int[] shape = c.Batched ? [c.B, c.H, .. per] : [c.H, .. per];
            double std = per[0] == 1 ? 0.3 : 1.0 / Math.Sqrt(per[0]);
            list.Add(Tensor.RandN(shape, gen, DType.Float64, 0, std));
        }
        Tensor View4() => c.Strided
            ? Tensor.RandN([c.B, c.T, c.H, c.D], gen, DType.Float64).Permute(0, 2, 1, 3)
            : Tensor.RandN([c.B, c.H, c.T, c.D], gen, DType.Float64);
        list.Add(View4());
        list.Add(View4());
        list.Add(View4());
        double eta = c.Inner == "linear" ? 1.0 : 0.3;
        var lr = Tensor.Rand([c.B, c.T, c.H], gen, DType.Float64, 0.05 * eta / c.D, 1.5 * eta / c.D).Permute(0, 2, 1);
        list.Add(c.Strided ? lr : lr.Contiguous());
        var tau = new double[c.K];
        for (int i = 0; i < c.K; i++) tau[i] = Math.Max(0, 1.0 / (i + 1) + 0.1 * gen.NextNormal());
        list.Add(Tensor.FromArray(tau));
        list.Add(Tensor.RandN([c.H, c.D], gen, DType.Float64, 1, 0.2));
        list.Add(Tensor.RandN([c.H, c.D], gen, DType.Float64, 0, 0.3));
        return list.Select(t => dtype == DType.Float64 ? t : t.To(dtype)).ToArray();
    }

    public sealed record Result(Tensor[] Outputs, Tensor[] Grads);

    /// <summary>Runs the fused op or the composed oracle; objective Σ out⊙R + Σ state⊙R' with fixed random R.</summary>
    public static Result Run(ScanCase c, Tensor[] inputs, bool fused)
    {
        var inner = c.Model();
        var leaves = inputs.Select(t => t.Detach().RequireGrad()).ToArray();
        int s = leaves.Length - 7;
        Tensor[] outs;
        using (TttFused.ForceVectorBits(c.Bits))
        {
            if (fused)
            {
                var (o, st) = TttFused.Scan(inner, leaves[..s], leaves[s], leaves[s + 1], leaves[s + 2], leaves[s + 3], leaves[s + 4], leaves[s + 5], leaves[s + 6], c.Group);
                outs = [o, .. st];
            }
            else outs = TttFused.Composed(inner, leaves);
            var gen = new Generator(c.Seed ^ 0xF00D);
            var objective = outs.Select(o => (o * Tensor.RandN(o.ShapeArray(), gen, DType.Float64).To(o.DType)).Sum()).Aggregate((a, b) => a + b);
            var grads = Autograd.Grad([objective], leaves);
            return new Result(outs.Select(o => o.Detach()).ToArray(), grads);
        }
    }

    private static readonly string[] InputNames = ["θ0", "q", "k", "v", "lr", "τ", "γ", "β"];

    private static string Name(int i, int stateCount) => i < stateCount ? $"θ0[{i}]" : InputNames[i - stateCount + 1];

    /// <summary>max|a − e| / max|e| for every output and gradient; throws naming the worst one over the tolerance.</summary>
    public static double Compare(ScanCase c, Result expected, Result actual, double tol, string what)
    {
        double worst = 0;
        int states = expected.Outputs.Length - 1;
        for (int i = 0; i < expected.Outputs.Length; i++)
        {
            double err = LayerTestSupport.Rel(expected.Outputs[i], actual.Outputs[i]);
            worst = Math.Max(worst, err);
            if (!(err <= tol)) throw new InvalidOperationException($"{c} {what}: {(i == 0 ? "output" : $"state {i - 1}")} differs by {err:G3} > {tol:G1}");
        }
        for (int i = 0; i < expected.Grads.Length; i++)
        {
            double err = LayerTestSupport.Rel(expected.Grads[i], actual.Grads[i]);
            worst = Math.Max(worst, err);
            if (!(err <= tol)) throw new InvalidOperationException($"{c} {what}: gradient of {Name(i, states)} differs by {err:G3} > {tol:G1}");
        }
        return worst;
    }

    private static bool Float64Agrees(ScanCase c)
    {
        var inputs = Inputs(c, DType.Float64);
        // Both paths compute the same expressions in a different order; observed errors are 1e-16..1e-14, 1e-12
        // leaves room for the condition of longer scans.
        Compare(c, Run(c, inputs, fused: false), Run(c, inputs, fused: true), 1e-12, "float64 fused vs composed");
        return true;
    }

    [Fact]
    public void Linear_fused_scan_matches_composed_in_float64() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(60), Prop.ForAll(Cases("linear").ToArbitrary(), Float64Agrees));

    [Fact]
    public void Mlp_fused_scan_matches_composed_in_float64_official_gelu_derivative() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(30), Prop.ForAll(Cases("mlp", 12).ToArbitrary(), Float64Agrees));

    [Fact]
    public void Mlp_fused_scan_matches_composed_in_float64_exact_gelu_derivative() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(20), Prop.ForAll(Cases("mlp-exact", 12).ToArbitrary(), Float64Agrees));
}
