namespace Ttt.Tests;

/// <summary>
/// The fused LayerNorm/RMSNorm ops against the composed ops they replace (the oracle): outputs, first-order gradients
/// of every input through sum(y ⊙ r), and second-order gradients (the fused backward's createGraph path), at float32
/// and float64, for odd widths (not multiples of the vector width) and strided inputs.
/// </summary>
public class FusedNormTests
{
    public static TheoryData<DType, int, int, bool> Cases()
    {
        var data = new TheoryData<DType, int, int, bool>();
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
            foreach (var (rows, width) in new[] { (1, 1), (3, 7), (5, 33), (67, 64), (2, 768) })
                foreach (bool affine in new[] { true, false })
                    data.Add(dtype, rows, width, affine);
        return data;
    }

    private static (double Atol, double Rtol) Tolerance(DType dtype) =>
        // float32: both paths round differently (the fused one accumulates row sums in double); a few ulp of the
        // normalised values, which are O(1).
        dtype == DType.Float32 ? (2e-5, 1e-4) : (1e-12, 1e-10);

    private static void AssertClose(Tensor expected, Tensor actual, DType dtype, string what)
    {
        var (atol, rtol) = Tolerance(dtype);
        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        var e = expected.ToDoubleArray();
        var a = actual.ToDoubleArray();
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(e[i] - a[i]) <= atol + rtol * Math.Abs(e[i]), $"{what}[{i}]: composed {e[i]}, fused {a[i]}");
    }

    private static Tensor Input(int rows, int width, DType dtype, ulong seed) =>
        // a transposed view: the fused op must handle non-contiguous input
        (Tensor.RandN([width, rows], new Generator(seed), DType.Float64) * 1.5 + 0.3).To(dtype).MT;

    [Theory]
    [MemberData(nameof(Cases))]
    public void LayerNorm_matches_the_composed_op(DType dtype, int rows, int width, bool affine)
    {
        var x = Input(rows, width, dtype, 1).RequireGrad();
        var w = affine ? (Tensor.RandN([width], new Generator(2), DType.Float64) + 1).To(dtype).RequireGrad() : null;
        var b = affine ? Tensor.RandN([width], new Generator(3), DType.Float64).To(dtype).RequireGrad() : null;
        var r = Tensor.RandN([rows, width], new Generator(4), DType.Float64).To(dtype);
        Tensor[] inputs = affine ? [x, w!, b!] : [x];
        Check(dtype, inputs, () => x.LayerNorm(w, b, 1e-5), () => x.FusedLayerNorm(w, b, 1e-5), r);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RmsNorm_matches_the_composed_op(DType dtype, int rows, int width, bool affine)
    {
        var x = Input(rows, width, dtype, 5).RequireGrad();
        var w = affine ? (Tensor.RandN([width], new Generator(6), DType.Float64) + 1).To(dtype).RequireGrad() : null;
        var r = Tensor.RandN([rows, width], new Generator(7), DType.Float64).To(dtype);
        Tensor[] inputs = affine ? [x, w!] : [x];
        Check(dtype, inputs, () => x.RmsNorm(w, 1e-6), () => x.FusedRmsNorm(w, 1e-6), r);
    }

    private static void Check(DType dtype, Tensor[] inputs, Func<Tensor> composed, Func<Tensor> fused, Tensor r)
    {
        var yc = composed();
        var yf = fused();
        AssertClose(yc, yf, dtype, "output");
        // First order (the fused backward kernel).
        var gc = Autograd.Grad([(yc * r).Sum()], inputs);
        var gf = Autograd.Grad([(yf * r).Sum()], inputs);
        for (int i = 0; i < inputs.Length; i++) AssertClose(gc[i], gf[i], dtype, $"grad {i}");
        // Second order: differentiate Σ (∂L/∂x)² through the createGraph backward of each path.
        var gc2 = Autograd.Grad([(composed() * r).Sum()], inputs, createGraph: true);
        var gf2 = Autograd.Grad([(fused() * r).Sum()], inputs, createGraph: true);
        var hc = Autograd.Grad([(gc2[0] * gc2[0]).Sum()], inputs);
        var hf = Autograd.Grad([(gf2[0] * gf2[0]).Sum()], inputs);
        var (atol, rtol) = Tolerance(dtype);
        for (int i = 0; i < inputs.Length; i++)
        {
            var e = hc[i].ToDoubleArray();
            var a = hf[i].ToDoubleArray();
            double scale = e.Select(Math.Abs).DefaultIfEmpty(0).Max();
            // second derivatives of a normalisation grow like 1/σ²: compare relative to the largest entry
            for (int j = 0; j < e.Length; j++)
                Assert.True(Math.Abs(e[j] - a[j]) <= 10 * (atol + rtol * scale), $"second-order grad {i}[{j}]: composed {e[j]}, fused {a[j]}");
        }
    }

    [Fact]
    public void Bad_shapes_name_the_operation()
    {
        var x = Tensor.Zeros([2, 3]);
        var ex = Assert.Throws<ArgumentException>(() => x.FusedLayerNorm(Tensor.Ones([4]), null));
        Assert.Contains("layer_norm", ex.Message, StringComparison.Ordinal);
        ex = Assert.Throws<ArgumentException>(() => x.FusedRmsNorm(Tensor.Ones([2])));
        Assert.Contains("rms_norm", ex.Message, StringComparison.Ordinal);
    }
}
