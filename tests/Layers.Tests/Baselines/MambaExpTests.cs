using Ttt.Models;

namespace Ttt.Tests.Baselines;

/// <summary>The scan kernel's vector exp against Math.Exp, at every vector width and both precisions.</summary>
public class MambaExpTests
{
    /// <summary>Arguments over the whole range, the underflow edge and special values.</summary>
    private static double[] Arguments()
    {
        var gen = new Generator(12);
        var xs = new List<double> { 0, -0.0, 1, -1, 0.5 * Math.Log(2), -0.5 * Math.Log(2), -87, -87.3, -87.4, -100, -700, -708, -709, -745, -1e4, 80, 88, 700, 709 };
        for (int i = 0; i < 4000; i++) xs.Add(-30 * gen.NextDouble());          // the scan's regime: Δ·A ≤ 0
        for (int i = 0; i < 2000; i++) xs.Add(-700 + 1400 * gen.NextDouble());
        return xs.ToArray();
    }

    private static double[] Apply<T, V>(double[] xs)
        where T : unmanaged
        where V : unmanaged, IScanLanes<V, T>
    {
        int w = V.Count;
        var result = new double[xs.Length];
        var buffer = new T[w];
        for (int i = 0; i < xs.Length; i += w)
        {
            for (int l = 0; l < w; l++)
            {
                double x = xs[Math.Min(i + l, xs.Length - 1)];
                buffer[l] = typeof(T) == typeof(float) ? (T)(object)(float)x : (T)(object)x;
            }
            V.Store(V.Exp(V.Load(ref buffer[0])), ref buffer[0]);
            for (int l = 0; l < w && i + l < xs.Length; l++) result[i + l] = Convert.ToDouble(buffer[l]);
        }
        return result;
    }

    private static void Check(double[] xs, double[] actual, bool single)
    {
        for (int i = 0; i < xs.Length; i++)
        {
            double x = single ? (float)xs[i] : xs[i];
            double expected = single ? MathF.Exp((float)x) : Math.Exp(x);
            double smallestNormal = single ? 1.1754943508222875e-38 : 2.2250738585072014e-308;
            if (expected < smallestNormal)
            {
                // Documented: results below the smallest normal number flush to 0 (Math.Exp may give a subnormal).
                Assert.True(actual[i] >= 0 && actual[i] <= smallestNormal, $"exp({x:R}) = {actual[i]:R}, expected about {expected:R}");
                continue;
            }
            if (double.IsPositiveInfinity(expected) || (single && x > 88.37))
            {
                Assert.True(actual[i] >= expected * (1 - 1e-6) || double.IsPositiveInfinity(actual[i]), $"exp({x:R}) = {actual[i]:R}");
                continue;
            }
            // float: the Cephes polynomial is about 1 ulp, the final scaling exact: allow 3 ulp (2⁻²⁴ each).
            // double: 1.7e-16 truncation plus rounding in 13 FMAs: allow 4 ulp (2⁻⁵³ each).
            double tolerance = single ? 3 * Math.Pow(2, -24) : 4 * Math.Pow(2, -53);
            double rel = Math.Abs(actual[i] - expected) / expected;
            Assert.True(rel <= tolerance, $"exp({x:R}) = {actual[i]:R}, expected {expected:R} (relative error {rel:G3})");
        }
    }

    [Fact]
    public void Vector_exp_is_accurate_at_every_width()
    {
        var xs = Arguments();
        Check(xs, Apply<float, Lanes128<float>>(xs), single: true);
        Check(xs, Apply<float, Lanes256<float>>(xs), single: true);
        Check(xs, Apply<float, Lanes512<float>>(xs), single: true);
        Check(xs, Apply<double, Lanes128<double>>(xs), single: false);
        Check(xs, Apply<double, Lanes256<double>>(xs), single: false);
        Check(xs, Apply<double, Lanes512<double>>(xs), single: false);
    }

    [Fact]
    public void Vector_exp_propagates_nan()
    {
        var xs = new[] { double.NaN };
        Assert.True(double.IsNaN(Apply<float, Lanes256<float>>(xs)[0]));
        Assert.True(double.IsNaN(Apply<double, Lanes512<double>>(xs)[0]));
    }
}
