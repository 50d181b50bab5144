// A property-based gradient test of your own op, with Ttt.Testing.
//
// The op: log cosh x, written as a custom function with a hand-written backward (d/dx log cosh x = tanh x). The
// backward is itself made of differentiable tensor ops, so second derivatives work too. Ttt.Testing generates
// tensors of random shapes, layouts (contiguous, permuted, narrowed) and values, and compares autograd with
// central finite differences on each; a failing case prints its shape, seed and layout.
//
// Run: dotnet test --project examples/GradientPropertyTest   (or dotnet run --project examples/GradientPropertyTest)

using FsCheck;
using Ttt;
using Ttt.Testing;

namespace Examples;

/// <summary>The user's op.</summary>
public static class MyOps
{
    /// <summary>log cosh x, element-wise, computed stably as |x| + log(1 + e^(−2|x|)) − log 2.</summary>
    public static Tensor LogCosh(Tensor x) => Function.Apply("log_cosh", [x],
        forward: xs => xs[0].Abs() + ((xs[0].Abs() * -2).Exp() + 1).Log() - Math.Log(2),
        backward: (grad, xs) => [grad * xs[0].Tanh()]);

    /// <summary>The same op with a wrong backward (tanh of 2x): the property must catch it.</summary>
    public static Tensor LogCoshWithWrongBackward(Tensor x) => Function.Apply("log_cosh_wrong", [x],
        forward: xs => xs[0].Abs() + ((xs[0].Abs() * -2).Exp() + 1).Log() - Math.Log(2),
        backward: (grad, xs) => [grad * (xs[0] * 2).Tanh()]);
}

public class LogCoshTests
{
    // The five lines: a first-order and a second-order gradient property over generated tensors of rank 0 to 3.
    [Fact]
    public void Gradient_matches_finite_differences() =>
        Check.QuickThrowOnFailure(GradientProperties.FirstOrder(TensorGen.Case(maxRank: 3), xs => MyOps.LogCosh(xs[0])));

    [Fact]
    public void Second_derivative_matches_finite_differences() =>
        Check.QuickThrowOnFailure(GradientProperties.SecondOrder(TensorGen.Case(maxRank: 3), xs => MyOps.LogCosh(xs[0])));

    // The property is worth having only if it fails on a wrong backward.
    [Fact]
    public void A_wrong_backward_is_caught() =>
        Assert.ThrowsAny<Exception>(() =>
            Check.QuickThrowOnFailure(GradientProperties.FirstOrder(TensorGen.Case(minRank: 1, maxRank: 3), xs => MyOps.LogCoshWithWrongBackward(xs[0]))));
}
