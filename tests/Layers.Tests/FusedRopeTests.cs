using Ttt.Nn;

namespace Ttt.Tests;

/// <summary>
/// The fused rotary embedding (Rope.Apply on CPU float tensors) against the composed path (Rope.ApplyComposed):
/// outputs, gradients through sum(y ⊙ r), and second-order gradients, at float32 and float64, for contiguous and
/// permuted inputs (the [B, H, T, d] view of a [B, T, H·d] projection) and odd position counts.
/// </summary>
public class FusedRopeTests
{
    public static TheoryData<DType, int, int, bool> Cases()
    {
        var data = new TheoryData<DType, int, int, bool>();
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
            foreach (var (t, d) in new[] { (1, 2), (7, 6), (19, 64), (33, 34) })
                foreach (bool permuted in new[] { false, true })
                    data.Add(dtype, t, d, permuted);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fused_rope_matches_the_composed_path(DType dtype, int t, int d, bool permuted)
    {
        const int b = 2, h = 3;
        var baseX = Tensor.RandN(permuted ? [b, t, h, d] : [b, h, t, d], new Generator(1), DType.Float64).To(dtype);
        var x = (permuted ? baseX.Permute(0, 2, 1, 3) : baseX).RequireGrad();
        var positions = Enumerable.Range(0, t).Select(i => (long)(i % 5)).ToArray();
        var (cos, sin) = Rope.Tables(positions, d, 10000, dtype);
        var r = Tensor.RandN([b, h, t, d], new Generator(2), DType.Float64).To(dtype);
        double tol = dtype == DType.Float32 ? 1e-6 : 1e-14;

        var yc = Rope.ApplyComposed(x, cos, sin);
        var yf = Rope.Apply(x, cos, sin);
        Assert.Equal("rope", yf.GradFn!.Name);
        Close(yc, yf, tol);
        var gc = Autograd.Grad((yc * r).Sum(), x, createGraph: true);
        var gf = Autograd.Grad((yf * r).Sum(), x, createGraph: true);
        Close(gc, gf, tol);
        // The gradient keeps x's memory order (no copy needed to merge heads back).
        Assert.Equal(x.Strides.ToArray(), gf.Strides.ToArray());
        Assert.Equal(x.Strides.ToArray(), yf.Strides.ToArray());
        // Second order: a rotation is linear, so Σ (∂L/∂x ⊙ x) has gradient ∂L/∂x, identical on both paths.
        var hc = Autograd.Grad((gc * x).Sum(), x);
        var hf = Autograd.Grad((gf * x).Sum(), x);
        Close(hc, hf, tol);
        Close(gc, hf, tol);
    }

    [Fact]
    public void Rotation_preserves_pair_norms()
    {
        // An independent identity: each rotated pair keeps its length.
        var x = Tensor.RandN([1, 2, 9, 8], new Generator(3), DType.Float64);
        var (cos, sin) = Rope.Tables(Enumerable.Range(0, 9).Select(i => (long)i).ToArray(), 8, 10000, DType.Float64);
        var y = Rope.Apply(x, cos, sin);
        var nx = (x * x).Reshape(1, 2, 9, 4, 2).Sum(-1).ToDoubleArray();
        var ny = (y * y).Reshape(1, 2, 9, 4, 2).Sum(-1).ToDoubleArray();
        for (int i = 0; i < nx.Length; i++) Assert.Equal(nx[i], ny[i], 1e-12);
    }

    private static void Close(Tensor expected, Tensor actual, double tol)
    {
        var e = expected.ToDoubleArray();
        var a = actual.ToDoubleArray();
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(e[i] - a[i]) <= tol * (1 + Math.Abs(e[i])), $"[{i}]: composed {e[i]}, fused {a[i]}");
    }
}
