using FsCheck;
using FsCheck.Fluent;
using Ttt.Testing;

namespace Ttt.Tests;

/// <summary>Known identities and closed forms that every correct implementation satisfies.</summary>
public class IdentityTests
{
    private static void Close(double[] e, double[] a, double tol, string what)
    {
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++)
            if (Math.Abs(e[i] - a[i]) > tol * (1 + Math.Abs(e[i]))) throw new InvalidOperationException($"{what}: element {i}: {e[i]} vs {a[i]}");
    }

    private static void Run<T>(Gen<T> gen, Func<T, bool> body, int n = 50) =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(n), Prop.ForAll(gen.ToArbitrary(), body));

    [Fact]
    public void Softmax_rows_sum_to_one_and_log_softmax_is_log_of_softmax()
    {
        Run(from c in TensorGen.Case(1, 3, 30, -30, 30) from d in Gen.Choose(-1, 0) select (c, d), x =>
        {
            var t = x.c.Build(DType.Float32);
            var s = t.Softmax(x.d);
            Close(Tensor.OnesLike(s.Sum(x.d)).ToDoubleArray(), s.Sum(x.d).ToDoubleArray(), 1e-6, "Σ softmax");
            Close(s.Log().ToDoubleArray(), t.LogSoftmax(x.d).ToDoubleArray(), 1e-5, "log softmax");
            return true;
        });
    }

    [Fact]
    public void Matmul_equals_a_naive_triple_loop_and_transposes_reverse_products()
    {
        Run(from m in Gen.Choose(1, 20) from k in Gen.Choose(1, 20) from n in Gen.Choose(1, 20) from s in TensorGen.Seed() select (m, k, n, s), x =>
        {
            var g = new Generator(x.s);
            var a = Tensor.RandN([x.m, x.k], g, DType.Float64);
            var b = Tensor.RandN([x.k, x.n], g, DType.Float64);
            var av = a.ToDoubleArray();
            var bv = b.ToDoubleArray();
            var naive = new double[x.m * x.n];
            for (int i = 0; i < x.m; i++)
                for (int j = 0; j < x.n; j++)
                    for (int p = 0; p < x.k; p++) naive[i * x.n + j] += av[i * x.k + p] * bv[p * x.n + j];
            var ab = Tensor.Matmul(a, b);
            Close(naive, ab.ToDoubleArray(), 1e-13, "matmul");
            Close(ab.MT.Contiguous().ToDoubleArray(), Tensor.Matmul(b.MT, a.MT).ToDoubleArray(), 1e-13, "(AB)ᵀ = BᵀAᵀ");
            return true;
        });
    }

    [Fact]
    public void Variance_mean_and_sums_agree_with_direct_formulas()
    {
        var g = new Generator(1);
        var x = Tensor.RandN([7, 9], g, DType.Float64);
        var v = x.ToDoubleArray();
        for (int r = 0; r < 7; r++)
        {
            var row = v.Skip(r * 9).Take(9).ToArray();
            double mean = row.Average();
            double var1 = row.Sum(e => (e - mean) * (e - mean)) / 8;
            Assert.Equal(mean, x.Mean(1)[r], 13);
            Assert.Equal(var1, x.Var(1)[r], 13);
            Assert.Equal(row.Max(), x.Max(1)[r]);
            Assert.Equal(Array.IndexOf(row, row.Max()), (int)x.ArgMax(1)[r]);
        }
        Assert.Equal(v.Sum(), x.Sum().Item(), 12);
    }

    [Fact]
    public void Cat_of_split_is_identity_and_stack_adds_a_dim()
    {
        var x = Tensor.RandN([5, 6], new Generator(2), DType.Float64);
        Assert.Equal(x.ToDoubleArray(), Tensor.Cat(x.Split([2, 1, 3], 1), 1).ToDoubleArray());
        Assert.Equal(x.ToDoubleArray(), Tensor.Cat(x.Chunk(3, 0), 0).ToDoubleArray());
        var s = Tensor.Stack([x, x * 2], 1);
        Assert.Equal([5, 2, 6], s.Shape.ToArray());
        Assert.Equal(x[3, 4] * 2, s[3, 1, 4]);
    }

    [Fact]
    public void Tril_plus_strict_triu_is_identity_and_gather_inverts_scatter_of_a_permutation()
    {
        var x = Tensor.RandN([2, 4, 5], new Generator(4), DType.Float64);
        Assert.Equal(x.ToDoubleArray(), (x.Tril() + x.Triu(1)).ToDoubleArray());
        var perm = Tensor.FromArray(new long[] { 2, 0, 3, 1 }).Reshape(4, 1).Expand(4, 3).Contiguous();
        var src = Tensor.RandN([4, 3], new Generator(5), DType.Float64);
        var scattered = Tensor.Zeros([4, 3], DType.Float64).ScatterAdd(0, perm, src);
        Assert.Equal(src.ToDoubleArray(), scattered.Gather(0, perm).ToDoubleArray());
    }

    [Fact]
    public void Cross_entropy_equals_negative_mean_log_probability_with_ignored_targets()
    {
        var logits = Tensor.RandN([4, 6], new Generator(6), DType.Float64);
        var targets = Tensor.FromArray(new long[] { 1, -100, 5, 0 });
        var lp = logits.LogSoftmax(-1);
        double expected = -(lp[0, 1] + lp[2, 5] + lp[3, 0]) / 3;
        Assert.Equal(expected, Tensor.CrossEntropy(logits, targets).Item(), 13);
    }

    [Fact]
    public void Gelu_matches_its_formula_and_norms_have_zero_mean_unit_scale()
    {
        var x = Tensor.FromArray(new[] { -3.0, -0.5, 0, 0.7, 2.5 });
        var y = x.Gelu().ToDoubleArray();
        var xv = x.ToDoubleArray();
        for (int i = 0; i < 5; i++)
            Assert.Equal(0.5 * xv[i] * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (xv[i] + 0.044715 * Math.Pow(xv[i], 3)))), y[i], 14);
        var h = Tensor.RandN([3, 16], new Generator(8), DType.Float64) * 3 + 1;
        var ln = h.LayerNorm(null, null, 0);
        Close(new double[3], ln.Mean(-1).ToDoubleArray(), 1e-12, "LN mean");
        Close(Enumerable.Repeat(1.0, 3).ToArray(), ln.Var(-1, correction: 0).ToDoubleArray(), 1e-12, "LN var");
        var rms = h.RmsNorm(null, 0);
        Close(Enumerable.Repeat(1.0, 3).ToArray(), (rms * rms).Mean(-1).ToDoubleArray(), 1e-12, "RMS");
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Fused_causal_conv1d_matches_the_composed_definition_with_gradients(DType dtype)
    {
        // The fused kernel against pad/narrow/multiply/add: channels below, at and past the vector width, T across
        // its 64-step blocks, every width, with and without bias; forward, dx, dw and dbias. Unrecorded, a few rows
        // (decoding windows, B·T ≤ 16) take the path that reads the weight in its own layout: its forward too.
        double tol = dtype == DType.Float32 ? 2e-5 : 1e-12;
        foreach (var (batch, time, channels, width, withBias) in new[] { (1, 1, 1, 1, true), (2, 7, 3, 4, false), (1, 4, 40, 4, true), (4, 4, 33, 4, false), (1, 130, 17, 4, true), (3, 65, 40, 2, true), (2, 200, 33, 3, false) })
        {
            var gen = new Generator((ulong)(time * 131 + channels));
            var x = Tensor.RandN([batch, time, channels], gen, dtype);
            var w = Tensor.RandN([channels, 1, width], gen, dtype);
            var b = withBias ? Tensor.RandN([channels], gen, dtype) : null;
            var g = Tensor.RandN([batch, time, channels], gen, dtype);
            Tensor[] Run(bool fused)
            {
                var (xl, wl, bl) = (x.Detach().RequireGrad(), w.Detach().RequireGrad(), b?.Detach().RequireGrad());
                var y = fused ? xl.CausalConv1d(wl, bl) : Tensor.ComposedCausalConv(xl, wl, bl);
                Tensor[] inputs = bl is null ? [xl, wl] : [xl, wl, bl];
                return [y.Detach(), .. Autograd.Grad([y], inputs, [g])];
            }
            var expected = Run(fused: false);
            var actual = Run(fused: true);
            for (int i = 0; i < expected.Length; i++)
                Close(expected[i].ToDoubleArray(), actual[i].ToDoubleArray(), tol, $"[{batch}, {time}, {channels}] W={width} {dtype} output {i}");
            using (GradMode.Disable())
                Close(expected[0].ToDoubleArray(), x.CausalConv1d(w, b).ToDoubleArray(), tol, $"[{batch}, {time}, {channels}] W={width} {dtype} unrecorded output");
        }
    }

    [Fact]
    public void Causal_conv1d_matches_its_definition()
    {
        var g = new Generator(9);
        var x = Tensor.RandN([2, 7, 3], g, DType.Float64);
        var w = Tensor.RandN([3, 1, 4], g, DType.Float64);
        var b = Tensor.RandN([3], g, DType.Float64);
        var y = x.CausalConv1d(w, b);
        for (int bi = 0; bi < 2; bi++)
            for (int t = 0; t < 7; t++)
                for (int c = 0; c < 3; c++)
                {
                    double e = b[c];
                    for (int k = 0; k < 4; k++)
                    {
                        int src = t - 3 + k;
                        if (src >= 0) e += w[c, 0, k] * x[bi, src, c];
                    }
                    Assert.Equal(e, y[bi, t, c], 13);
                }
    }
}
