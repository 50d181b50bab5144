using FsCheck;
using FsCheck.Fluent;

namespace Ttt.Tests;

/// <summary>
/// First- and second-order gradient checks, in float64, of every differentiable op on FsCheck-generated inputs
/// (shapes, broadcast pairs, permuted and narrowed views). A failure prints the op, every input's recipe
/// (shape, seed, layout) and the worst element; FsCheck prints its own replay seed.
/// </summary>
public class OpGradientTests
{
    // Central differences with eps 1e-6 in float64 are accurate to ~1e-9 relative; 1e-6 abs / 1e-4 rel leaves
    // room for curvature without hiding a wrong rule (a wrong rule is off by O(1)).
    [Theory]
    [MemberData(nameof(OpCatalog.Names), MemberType = typeof(OpCatalog))]
    public void First_order_gradients_match_finite_differences(string op)
    {
        var prop = Prop.ForAll(OpCatalog.All[op].ToArbitrary(), c =>
        {
            var r = GradCheck.First(c.F, c.Build(), seed: c.Inputs[0].Seed);
            return r.Passed ? true : throw new InvalidOperationException($"{c}: {r}");
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(25), prop);
    }

    // Second order differences the first-order gradient with eps 1e-5: truncation error ~1e-10·f'''',
    // rounding ~1e-11/1e-5; 1e-5 abs / 1e-3 rel.
    [Theory]
    [MemberData(nameof(OpCatalog.Names), MemberType = typeof(OpCatalog))]
    public void Second_order_gradients_match_finite_differences_of_the_gradient(string op)
    {
        var prop = Prop.ForAll(OpCatalog.All[op].ToArbitrary(), c =>
        {
            var r = GradCheck.Second(c.F, c.Build(), seed: c.Inputs[0].Seed);
            return r.Passed ? true : throw new InvalidOperationException($"{c}: {r}");
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(15), prop);
    }
}
