namespace Ttt.Tests;

/// <summary>The fused SwiGLU gate against the composed silu(a)·b: output, gradients and second order, float32 and float64.</summary>
public class FusedSwiGluTests
{
    [Theory]
    [InlineData(DType.Float32, 1)]
    [InlineData(DType.Float32, 37)]
    [InlineData(DType.Float32, 1000)]
    [InlineData(DType.Float64, 5)]
    [InlineData(DType.Float64, 67)]
    [InlineData(DType.Float64, 1000)]
    public void Fused_swiglu_matches_the_composed_op(DType dtype, int width)
    {
        var a = (Tensor.RandN([3, width], new Generator(1), DType.Float64) * 3).To(dtype).RequireGrad();
        var b = Tensor.RandN([width, 3], new Generator(2), DType.Float64).To(dtype).MT.RequireGrad();   // strided
        var r = Tensor.RandN([3, width], new Generator(3), DType.Float64).To(dtype);
        double tol = dtype == DType.Float32 ? 1e-5 : 1e-13;
        var yc = a.Silu() * b;
        var yf = Tensor.FusedSwiGlu(a, b);
        Close(yc, yf, tol);
        var gc = Autograd.Grad([(yc * r).Sum()], [a, b], createGraph: true);
        var gf = Autograd.Grad([(yf * r).Sum()], [a, b], createGraph: true);
        var first = Autograd.Grad([(Tensor.FusedSwiGlu(a, b) * r).Sum()], [a, b]);   // the fused kernel
        for (int i = 0; i < 2; i++)
        {
            Close(gc[i], gf[i], tol);
            Close(gc[i], first[i], tol);
        }
        var hc = Autograd.Grad([(gc[0] * gc[1]).Sum()], [a, b]);
        var hf = Autograd.Grad([(gf[0] * gf[1]).Sum()], [a, b]);
        for (int i = 0; i < 2; i++) Close(hc[i], hf[i], tol);
    }

    [Fact]
    public void Shape_mismatch_names_the_operation()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.FusedSwiGlu(Tensor.Zeros([2, 3]), Tensor.Zeros([3, 2])));
        Assert.Contains("swiglu", ex.Message, StringComparison.Ordinal);
    }

    private static void Close(Tensor expected, Tensor actual, double tol)
    {
        var e = expected.ToDoubleArray();
        var a = actual.ToDoubleArray();
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(e[i] - a[i]) <= tol * (1 + Math.Abs(e[i])), $"[{i}]: composed {e[i]}, fused {a[i]}");
    }
}
