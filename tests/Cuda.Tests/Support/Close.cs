using System.Globalization;

namespace Ttt.Cuda.Tests.Support;

/// <summary>
/// Element-wise comparison with one tolerance formula, |actual − expected| ≤ atol + rtol·|expected|, reporting
/// the largest absolute and relative errors and the worst element. NaNs must match NaNs and infinities must match.
/// </summary>
internal static class Close
{
    /// <summary>Default tolerances per dtype. float64: kernels sum in a different order than the reference loop
    /// (a few ulps over the short reductions used in tests). float32: the kernels compute in float32 where the
    /// reference computes in double and rounds once (transcendental functions ≤ 2 ulp, sums of a few thousand terms).</summary>
    public static (double Atol, double Rtol) Default(DType dtype) => dtype switch
    {
        DType.Float64 => (1e-10, 1e-9),
        DType.Float32 => (2e-5, 2e-4),
        _ => (0, 0),
    };

    public static void Check(Tensor expected, Tensor actual, string what, double? atol = null, double? rtol = null)
    {
        Assert.Equal(expected.ShapeArray(), actual.ShapeArray());
        var (da, dr) = Default(expected.DType);
        double at = atol ?? da, rt = rtol ?? dr;
        if (expected.DType == DType.Int64)
        {
            var e = expected.To(Device.Cpu).ToLongArray();
            var a = actual.To(Device.Cpu).ToLongArray();
            for (int i = 0; i < e.Length; i++)
                if (e[i] != a[i]) Assert.Fail($"{what}: element {i} is {a[i]}, expected {e[i]}");
            return;
        }
        var ev = expected.To(Device.Cpu).ToDoubleArray();
        var av = actual.To(Device.Cpu).ToDoubleArray();
        Values(ev, av, what, at, rt);
    }

    public static void Values(double[] expected, double[] actual, string what, double atol, double rtol)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxAbs = 0, maxRel = 0;
        int worst = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) || double.IsNaN(a))
            {
                if (double.IsNaN(e) != double.IsNaN(a)) Assert.Fail($"{what}: element {i} is {a}, expected {e}");
                continue;
            }
            if (double.IsInfinity(e) || double.IsInfinity(a))
            {
                if (e != a) Assert.Fail($"{what}: element {i} is {a}, expected {e}");
                continue;
            }
            double err = Math.Abs(a - e);
            double rel = err / Math.Max(Math.Abs(e), atol > 0 ? atol : double.Epsilon);
            if (err > maxAbs) maxAbs = err;
            if (rel > maxRel) maxRel = rel;
            if (err > atol + rtol * Math.Abs(e) && worst < 0) worst = i;
        }
        if (worst >= 0)
            Assert.Fail(string.Create(CultureInfo.InvariantCulture,
                $"{what}: element {worst} is {actual[worst]:R}, expected {expected[worst]:R}; max abs error {maxAbs:G3}, max rel error {maxRel:G3} (atol {atol}, rtol {rtol}, {expected.Length} elements)"));
    }
}
