using Ttt.Cuda.Tests.Support;

namespace Ttt.Cuda.Tests.Fused;

/// <summary>
/// The fused kernels' CPU oracle (FusedReference) against the composite ops and autograd on the CPU, so the oracle's
/// forward and backward formulas are right before any kernel is compared with them. No GPU needed.
/// </summary>
public sealed class FusedReferenceTests
{
    private static Tensor Rand(int[] shape, ulong seed, double lo = -2, double hi = 2) => Tensor.Rand(shape, new Generator(seed), DType.Float64, lo, hi);

    [Fact]
    public void LayerNorm_reference_matches_the_composite_and_its_gradients()
    {
        const int Rows = 5, Dim = 7;
        var x = Rand([Rows, Dim], 1).RequireGrad();
        var w = Rand([Dim], 2).RequireGrad();
        var b = Rand([Dim], 3).RequireGrad();
        var dy = Rand([Rows, Dim], 4);
        var y = x.LayerNorm(w, b, 1e-5);
        var grads = Autograd.Grad([(y * dy).Sum()], [x, w, b]);
        var (ry, mean, rstd) = FusedReference.LayerNorm(x.ToDoubleArray(), Rows, Dim, w.ToDoubleArray(), b.ToDoubleArray(), 1e-5);
        Close.Values(y.ToDoubleArray(), ry, "y", 1e-12, 1e-10);
        var (dx, dw, db) = FusedReference.LayerNormBackward(dy.ToDoubleArray(), x.ToDoubleArray(), w.ToDoubleArray(), mean, rstd, Rows, Dim, true);
        Close.Values(grads[0].ToDoubleArray(), dx, "dx", 1e-12, 1e-9);
        Close.Values(grads[1].ToDoubleArray(), dw!, "dweight", 1e-12, 1e-9);
        Close.Values(grads[2].ToDoubleArray(), db!, "dbias", 1e-12, 1e-9);
    }

    [Fact]
    public void RmsNorm_reference_matches_the_composite_and_its_gradients()
    {
        const int Rows = 4, Dim = 9;
        var x = Rand([Rows, Dim], 5).RequireGrad();
        var w = Rand([Dim], 6).RequireGrad();
        var dy = Rand([Rows, Dim], 7);
        var y = x.RmsNorm(w, 1e-6);
        var grads = Autograd.Grad([(y * dy).Sum()], [x, w]);
        var (ry, rstd) = FusedReference.RmsNorm(x.ToDoubleArray(), Rows, Dim, w.ToDoubleArray(), 1e-6);
        Close.Values(y.ToDoubleArray(), ry, "y", 1e-12, 1e-10);
        var (dx, dw) = FusedReference.RmsNormBackward(dy.ToDoubleArray(), x.ToDoubleArray(), w.ToDoubleArray(), rstd, Rows, Dim);
        Close.Values(grads[0].ToDoubleArray(), dx, "dx", 1e-12, 1e-9);
        Close.Values(grads[1].ToDoubleArray(), dw!, "dweight", 1e-12, 1e-9);
    }

    [Fact]
    public void CrossEntropy_reference_matches_the_composite_mean_and_its_gradient()
    {
        const int Rows = 6, Classes = 5;
        var logits = Rand([Rows, Classes], 8, -3, 3).RequireGrad();
        long[] targets = [0, 4, -100, 2, 2, 1];
        var t = Tensor.FromArray(targets);
        var loss = Tensor.CrossEntropy(logits, t);
        var g = Autograd.Grad(loss, logits);
        var (rl, lse) = FusedReference.CrossEntropy(logits.ToDoubleArray(), targets, Classes, -100);
        int count = targets.Count(x => x != -100);
        Assert.Equal(loss.Item(), rl.Sum() / count, 12);
        var dl = Enumerable.Repeat(1.0 / count, Rows).ToArray();
        var d = FusedReference.CrossEntropyBackward(logits.ToDoubleArray(), targets, lse, dl, Classes, -100);
        Close.Values(g.ToDoubleArray(), d, "dlogits", 1e-12, 1e-9);
    }

    [Fact]
    public void Conv1d_reference_matches_the_composite_and_its_gradients()
    {
        const int B = 2, T = 6, C = 3, W = 4;
        var x = Rand([B, T, C], 9).RequireGrad();
        var w = Rand([C, 1, W], 10).RequireGrad();
        var bias = Rand([C], 11).RequireGrad();
        var dy = Rand([B, T, C], 12);
        var y = x.CausalConv1d(w, bias);
        var grads = Autograd.Grad([(y * dy).Sum()], [x, w, bias]);
        Close.Values(y.ToDoubleArray(), FusedReference.Conv1d(x.ToDoubleArray(), w.ToDoubleArray(), bias.ToDoubleArray(), B, T, C, W), "y", 1e-12, 1e-10);
        var (dx, dw, db) = FusedReference.Conv1dBackward(dy.ToDoubleArray(), x.ToDoubleArray(), w.ToDoubleArray(), B, T, C, W);
        Close.Values(grads[0].ToDoubleArray(), dx, "dx", 1e-12, 1e-9);
        Close.Values(grads[1].ToDoubleArray(), dw, "dweight", 1e-12, 1e-9);
        Close.Values(grads[2].ToDoubleArray(), db, "dbias", 1e-12, 1e-9);
    }

    [Fact]
    public void Embedding_reference_matches_index_select_and_its_gradient()
    {
        const int V = 7, D = 3;
        var table = Rand([V, D], 13).RequireGrad();
        long[] ids = [3, 0, 3, 6, 1];
        var y = table.IndexSelect(0, Tensor.FromArray(ids));
        var dy = Rand([ids.Length, D], 14);
        var g = Autograd.Grad((y * dy).Sum(), table);
        Close.Values(y.ToDoubleArray(), FusedReference.Embedding(ids, table.ToDoubleArray(), D), "y", 0, 0);
        Close.Values(g.ToDoubleArray(), FusedReference.EmbeddingBackward(ids, dy.ToDoubleArray(), V, D), "dtable", 1e-12, 1e-12);
    }

    [Fact]
    public void Rope_inverse_undoes_the_rotation_and_keeps_norms()
    {
        int[] shape = [2, 5, 3, 8];
        var x = Rand(shape, 15).ToDoubleArray();
        var y = FusedReference.Rope(x, shape, 1, 10000, null, false);
        var back = FusedReference.Rope(y, shape, 1, 10000, null, true);
        Close.Values(x, back, "rope⁻¹(rope(x))", 1e-12, 1e-10);
        for (int e = 0; e < x.Length; e += 2)
            Assert.Equal(x[e] * x[e] + x[e + 1] * x[e + 1], y[e] * y[e] + y[e + 1] * y[e + 1], 10);
        // Position 0 is the identity.
        for (int j = 0; j < 3 * 8; j++) Assert.Equal(x[j], y[j], 14);
    }

    [Fact]
    public void AdamW_reference_follows_the_textbook_first_step()
    {
        double[] p = [1.0], g = [0.5], m = [0.0], v = [0.0];
        FusedReference.AdamW(p, g, m, v, 1, 0.1, 0.9, 0.999, 1e-8, 0.01);
        // Step 1: m̂ = g, v̂ = g², so the update is lr·g/(|g| + ε) ≈ lr; decay first: 1 − 0.1·0.01.
        Assert.Equal(1 - 0.001 - 0.1 * 0.5 / (0.5 + 1e-8), p[0], 12);
        Assert.Equal(0.05, m[0], 12);
        Assert.Equal(0.001 * 0.25, v[0], 12);
    }

    [Theory]
    [InlineData(true, 5, 5)]
    [InlineData(true, 2, 6)]
    [InlineData(false, 3, 4)]
    public void Attention_reference_matches_the_composite_and_its_gradients(bool causal, int tq, int tk)
    {
        const int B = 2, H = 2, D = 3;
        const double Scale = 0.7;
        var q = Rand([B, H, tq, D], 20).RequireGrad();
        var k = Rand([B, H, tk, D], 21).RequireGrad();
        var v = Rand([B, H, tk, D], 22).RequireGrad();
        var g = Rand([B, H, tq, D], 23);
        var y = Attention.Reference(q, k, v, causal, Scale);
        var grads = Autograd.Grad([(y * g).Sum()], [q, k, v]);
        var (ro, lse) = FusedReference.Attention(q.ToDoubleArray(), k.ToDoubleArray(), v.ToDoubleArray(), B * H, tq, tk, D, causal, Scale);
        Close.Values(y.ToDoubleArray(), ro, "o", 1e-12, 1e-10);
        // lse against its definition: log Σ_j exp(scale·q·kⱼ) over the visible keys.
        var scores = (Tensor.Matmul(q.Detach(), k.Detach().MT) * Scale).ToDoubleArray();
        for (int r = 0; r < B * H * tq; r++)
        {
            int i = r % tq;
            double sum = 0;
            for (int j = 0; j < tk; j++)
                if (!causal || j <= i + tk - tq) sum += Math.Exp(scores[r * tk + j]);
            Assert.Equal(Math.Log(sum), lse[r], 12);
        }
        var (dq, dk, dv) = FusedReference.AttentionBackward(q.ToDoubleArray(), k.ToDoubleArray(), v.ToDoubleArray(), g.ToDoubleArray(),
            B * H, tq, tk, D, causal, Scale);
        Close.Values(grads[0].ToDoubleArray(), dq, "dq", 1e-12, 1e-9);
        Close.Values(grads[1].ToDoubleArray(), dk, "dk", 1e-12, 1e-9);
        Close.Values(grads[2].ToDoubleArray(), dv, "dv", 1e-12, 1e-9);
    }

    [Fact]
    public void SelectiveScan_reference_matches_the_composite_and_its_gradients()
    {
        const int B = 2, L = 6, E = 3, N = 4;
        var u = Rand([B, L, E], 30).RequireGrad();
        var delta = Tensor.Rand([B, L, E], new Generator(31), DType.Float64, 0.05, 0.8).RequireGrad();
        var a = Tensor.Rand([E, N], new Generator(32), DType.Float64, -2, -0.2).RequireGrad();
        var b = Rand([B, L, N], 33).RequireGrad();
        var c = Rand([B, L, N], 34).RequireGrad();
        var d = Rand([E], 35).RequireGrad();
        var dy = Rand([B, L, E], 36);
        var (y, last) = Ttt.Models.SelectiveScan.ReferenceWithState(u, delta, a, b, c, d);
        Tensor[] inputs = [u, delta, a, b, c, d];
        var grads = Autograd.Grad([(y * dy).Sum()], inputs);
        var x = inputs.Select(t => t.ToDoubleArray()).ToArray();
        var (ry, rlast) = FusedReference.SelectiveScan(x[0], x[1], x[2], x[3], x[4], x[5], B, L, E, N);
        Close.Values(y.ToDoubleArray(), ry, "y", 1e-12, 1e-10);
        Close.Values(last.ToDoubleArray(), rlast, "last state", 1e-12, 1e-10);
        var rg = FusedReference.SelectiveScanBackward(x[0], x[1], x[2], x[3], x[4], x[5], dy.ToDoubleArray(), B, L, E, N);
        string[] names = ["du", "dΔ", "dA", "dB", "dC", "dD"];
        for (int i = 0; i < 6; i++) Close.Values(grads[i].ToDoubleArray(), rg[i], names[i], 1e-12, 1e-9);
    }
}
