using FsCheck;
using FsCheck.Fluent;

namespace Ttt.Testing;

/// <summary>
/// Gradient checks packaged as FsCheck properties, so a user tests their own op in a few lines:
/// <code>
/// Check.QuickThrowOnFailure(GradientProperties.FirstOrder(TensorGen.Case(1, 3), xs => MyOp(xs[0])));
/// </code>
/// Each case is built in float64; the property fails with the check's report (errors and worst element).
/// </summary>
public static class GradientProperties
{
    /// <summary>First-order check of <paramref name="f"/> on one generated input.</summary>
    public static Property FirstOrder(Gen<TensorCase> input, Func<Tensor[], Tensor> f, double atol = 1e-6, double rtol = 1e-4) =>
        Prop.ForAll(input.ToArbitrary(), c => Holds(GradCheck.First(f, [c.Build()], c.Seed, atol: atol, rtol: rtol), c.ToString()));

    /// <summary>Second-order check of <paramref name="f"/> on one generated input.</summary>
    public static Property SecondOrder(Gen<TensorCase> input, Func<Tensor[], Tensor> f, double atol = 1e-5, double rtol = 1e-3) =>
        Prop.ForAll(input.ToArbitrary(), c => Holds(GradCheck.Second(f, [c.Build()], c.Seed, atol: atol, rtol: rtol), c.ToString()));

    /// <summary>First-order check on several generated inputs.</summary>
    public static Property FirstOrder(Gen<TensorCase[]> inputs, Func<Tensor[], Tensor> f, double atol = 1e-6, double rtol = 1e-4) =>
        Prop.ForAll(inputs.ToArbitrary(), cs => Holds(GradCheck.First(f, cs.Select(c => c.Build()).ToArray(), cs[0].Seed, atol: atol, rtol: rtol), Describe(cs)));

    /// <summary>Second-order check on several generated inputs.</summary>
    public static Property SecondOrder(Gen<TensorCase[]> inputs, Func<Tensor[], Tensor> f, double atol = 1e-5, double rtol = 1e-3) =>
        Prop.ForAll(inputs.ToArbitrary(), cs => Holds(GradCheck.Second(f, cs.Select(c => c.Build()).ToArray(), cs[0].Seed, atol: atol, rtol: rtol), Describe(cs)));

    private static string Describe(TensorCase[] cases) => string.Join("; ", cases.Select((c, i) => $"input {i}: {c}"));

    private static bool Holds(GradCheckResult r, string description) =>
        r.Passed ? true : throw new GradientCheckException($"{description}: {r}");
}

/// <summary>Thrown by a failing gradient property, with the case and the check's report.</summary>
public sealed class GradientCheckException(string message) : Exception(message);
