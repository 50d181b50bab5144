namespace Ttt.Tests.Baselines;

/// <summary>The softplus op the mixer uses for Δ (a general op in src/Tensor/Ops/Softplus.cs).</summary>
public class MambaSoftplusTests
{
    /// <summary>
    /// ln(1 + eˣ) = max(x, 0) + log1p(z) with z = e^−|x| ∈ [0, 1], log1p by a series (Math has no log1p, and
    /// ln(1 + z) would lose the digits of a small z).
    /// </summary>
    private static double Expected(double x) => Math.Max(x, 0) + Log1pSeries(Math.Exp(-Math.Abs(x)));

    /// <summary>ln(1 + z) = 2·atanh(z / (2 + z)), a series in s² = (z/(2+z))² ≤ 1/9, summed far below 1e-17.</summary>
    private static double Log1pSeries(double z)
    {
        double s = z / (2 + z), s2 = s * s, term = s, sum = 0;
        for (int k = 1; k < 60; k += 2)
        {
            sum += term / k;
            term *= s2;
        }
        return 2 * sum;
    }

    [Fact]
    public void Values_are_accurate_over_the_whole_range()
    {
        double[] xs = [-800, -100, -40, -20, -5, -1, -1e-8, 0, 1e-8, 0.5, 1, 5, 20, 40, 100, 800];
        var y64 = Tensor.FromArray(xs).Softplus().ToDoubleArray();
        var y32 = Tensor.FromArray(xs).To(DType.Float32).Softplus().ToDoubleArray();
        for (int i = 0; i < xs.Length; i++)
        {
            double e = Expected(xs[i]);
            // float64: a few ulp relative, also where softplus(x) ≈ eˣ is tiny (the log1p trick keeps it).
            Assert.True(Math.Abs(y64[i] - e) <= 4e-16 * Math.Abs(e), $"softplus({xs[i]}) = {y64[i]:R}, expected {e:R}");
            // float32: a few ulp of float, down to the smallest normal float.
            Assert.True(Math.Abs(y32[i] - e) <= 4 * Math.Pow(2, -24) * Math.Abs(e) + 1.2e-38, $"float32 softplus({xs[i]}) = {y32[i]:R}, expected {e:R}");
        }
        Assert.True(double.IsNaN(Tensor.FromArray([double.NaN]).Softplus().Item()));
        Assert.Equal(double.PositiveInfinity, Tensor.FromArray([double.PositiveInfinity]).Softplus().Item());
        Assert.Equal(0.0, Tensor.FromArray([double.NegativeInfinity]).Softplus().Item());
    }

    [Fact]
    public void Gradients_of_first_and_second_order_match_finite_differences()
    {
        var x = Tensor.RandN([3, 5], new Generator(2), DType.Float64, std: 3);
        var first = GradCheck.First(xs => xs[0].Softplus(), [x], 1);
        Assert.True(first.Passed, first.ToString());
        var second = GradCheck.Second(xs => xs[0].Softplus(), [x], 2);
        Assert.True(second.Passed, second.ToString());
    }
}
