namespace Ttt.Tests;

/// <summary>
/// The fused softmax + cross-entropy against the composed op (the oracle): loss, gradient and second-order gradient
/// at float32 and float64, odd class counts, ignored targets, 3-d and strided (narrowed) logits.
/// </summary>
public class FusedCrossEntropyTests
{
    public static TheoryData<DType, int, int, bool> Cases()
    {
        var data = new TheoryData<DType, int, int, bool>();
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
            foreach (var (rows, classes) in new[] { (1, 1), (5, 7), (9, 33), (4, 1000) })
                foreach (bool narrowed in new[] { false, true })
                    data.Add(dtype, rows, classes, narrowed);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fused_cross_entropy_matches_the_composed_op(DType dtype, int rows, int classes, bool narrowed)
    {
        // logits [2, rows, C]; narrowed: a view [2, rows, C] of [2, rows + 1, C] (rows not evenly strided across the batch)
        var full = (Tensor.RandN([2, rows + 1, classes], new Generator(1), DType.Float64) * 3).To(dtype);
        var logits = (narrowed ? full.Narrow(1, 1, rows) : full.Narrow(1, 0, rows).Contiguous()).RequireGrad();
        var gen = new Generator(2);
        var ids = Enumerable.Range(0, 2 * rows).Select(i => i % 3 == 1 ? -100L : (long)(gen.NextDouble() * classes) % classes).ToArray();
        if (ids.All(t => t == -100)) ids[0] = 0;
        var targets = Tensor.FromArray(ids, [2, rows]);
        double tol = dtype == DType.Float32 ? 2e-5 : 1e-12;

        var lc = Tensor.CrossEntropy(logits, targets);
        var lf = Tensor.FusedCrossEntropy(logits, targets);
        Assert.Equal(lc.Item(), lf.Item(), tol * (1 + Math.Abs(lc.Item())));
        var gc = Autograd.Grad(lc, logits, createGraph: true);
        var gf = Autograd.Grad(lf, logits, createGraph: true);
        Close(gc, gf, tol);
        var first = Autograd.Grad(Tensor.FusedCrossEntropy(logits, targets), logits);      // the fused kernel (no graph)
        Close(gc, first, tol);
        // Second order: gradient of Σ (∂L/∂x)² through each path's backward.
        var hc = Autograd.Grad((gc * gc).Sum(), logits);
        var hf = Autograd.Grad((gf * gf).Sum(), logits);
        Close(hc, hf, tol);
    }

    [Fact]
    public void Gradient_rows_sum_to_zero_and_ignored_rows_are_zero()
    {
        // Independent identities: softmax rows sum to 1 and the one-hot to 1, so each valid gradient row sums to 0.
        var logits = Tensor.RandN([6, 11], new Generator(3), DType.Float64).RequireGrad();
        var targets = Tensor.FromArray(new long[] { 3, -100, 0, 10, -100, 5 }, [6]);
        var g = Autograd.Grad(Tensor.FusedCrossEntropy(logits, targets), logits);
        for (int i = 0; i < 6; i++)
        {
            var row = g.Select(0, i).ToDoubleArray();
            Assert.Equal(0.0, row.Sum(), 1e-15);
            if (i is 1 or 4) Assert.All(row, v => Assert.Equal(0.0, v));
        }
    }

    [Fact]
    public void Bad_targets_name_the_operation()
    {
        var logits = Tensor.Zeros([2, 3]);
        var ex = Assert.Throws<IndexOutOfRangeException>(() => Tensor.FusedCrossEntropy(logits, Tensor.FromArray(new long[] { 0, 3 }, [2])));
        Assert.Contains("cross_entropy", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Tensor.FusedCrossEntropy(logits, Tensor.FromArray(new long[] { 0 }, [1])));
    }

    private static void Close(Tensor expected, Tensor actual, double tol)
    {
        var e = expected.ToDoubleArray();
        var a = actual.ToDoubleArray();
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(e[i] - a[i]) <= tol * (1 + Math.Abs(e[i])), $"[{i}]: composed {e[i]}, fused {a[i]}");
    }
}
