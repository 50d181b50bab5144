namespace Ttt.Tests.Baselines;

/// <summary>Sizes of one selective scan: B batch, L time, E channels (E·D of the mixer), N states.</summary>
public sealed record ScanSize(int B, int L, int E, int N);

/// <summary>Host inputs of one scan, in float64 (rounded to float32 first when the case is float32).</summary>
public sealed class ScanInputs
{
    public required ScanSize Size { get; init; }
    /// <summary>u [B, L, E].</summary>
    public required double[] U { get; init; }
    /// <summary>Δ [B, L, E].</summary>
    public required double[] Delta { get; init; }
    /// <summary>A [E, N].</summary>
    public required double[] A { get; init; }
    /// <summary>B [B, L, N].</summary>
    public required double[] Bm { get; init; }
    /// <summary>C [B, L, N].</summary>
    public required double[] Cm { get; init; }
    /// <summary>D [E].</summary>
    public required double[] D { get; init; }
    /// <summary>An upstream gradient dy [B, L, E].</summary>
    public required double[] Dy { get; init; }

    /// <summary>
    /// Random inputs in the regime of a trained Mamba: Δ ∈ [0.01, 1], A ∈ −[0.2, 3] (so Δ·A spans slow to fast
    /// decay), u, B, C, D, dy standard normal. <paramref name="float32"/> rounds every value to float32.
    /// </summary>
    public static ScanInputs Random(ScanSize s, ulong seed, bool float32 = false)
    {
        var gen = new Generator(seed);
        double Round(double v) => float32 ? (float)v : v;
        double[] Normal(int count) => Enumerable.Range(0, count).Select(_ => Round(gen.NextNormal())).ToArray();
        double[] Uniform(int count, double lo, double hi) => Enumerable.Range(0, count).Select(_ => Round(lo + (hi - lo) * gen.NextDouble())).ToArray();
        int ble = s.B * s.L * s.E, bln = s.B * s.L * s.N;
        return new ScanInputs
        {
            Size = s,
            U = Normal(ble),
            Delta = Uniform(ble, 0.01, 1),
            A = Uniform(s.E * s.N, -3, -0.2),
            Bm = Normal(bln),
            Cm = Normal(bln),
            D = Normal(s.E),
            Dy = Normal(ble),
        };
    }

    /// <summary>The six op inputs as tensors of <paramref name="dtype"/>: u, Δ, A, B, C, D.</summary>
    public Tensor[] Tensors(DType dtype)
    {
        var s = Size;
        return
        [
            Tensor.FromArray(U, [s.B, s.L, s.E]).To(dtype),
            Tensor.FromArray(Delta, [s.B, s.L, s.E]).To(dtype),
            Tensor.FromArray(A, [s.E, s.N]).To(dtype),
            Tensor.FromArray(Bm, [s.B, s.L, s.N]).To(dtype),
            Tensor.FromArray(Cm, [s.B, s.L, s.N]).To(dtype),
            Tensor.FromArray(D, [s.E]).To(dtype),
        ];
    }

    /// <summary>dy as a tensor of <paramref name="dtype"/>.</summary>
    public Tensor DyTensor(DType dtype) => Tensor.FromArray(Dy, [Size.B, Size.L, Size.E]).To(dtype);
}

/// <summary>
/// The selective scan as a plain per-step recurrence in float64 loops, keeping every state (the textbook form the
/// kernels are measured against), with its reverse-mode gradients written out by hand.
/// </summary>
public static class NaiveScan
{
    /// <summary>y [B, L, E] and the final state [B, E, N].</summary>
    public static (double[] Y, double[] Last) Forward(ScanInputs x)
    {
        var (bs, l, e, n) = x.Size;
        var y = new double[bs * l * e];
        var last = new double[bs * e * n];
        var h = new double[n];
        for (int b = 0; b < bs; b++)
            for (int c = 0; c < e; c++)
            {
                Array.Clear(h);
                for (int t = 0; t < l; t++)
                {
                    int i = (b * l + t) * e + c;
                    double acc = x.D[c] * x.U[i];
                    for (int k = 0; k < n; k++)
                    {
                        int bt = (b * l + t) * n + k;
                        h[k] = Math.Exp(x.Delta[i] * x.A[c * n + k]) * h[k] + x.Delta[i] * x.U[i] * x.Bm[bt];
                        acc += x.Cm[bt] * h[k];
                    }
                    y[i] = acc;
                }
                for (int k = 0; k < n; k++) last[(b * e + c) * n + k] = h[k];
            }
        return (y, last);
    }

    /// <summary>Gradients of Σ y ⊙ dy with respect to u, Δ, A, B, C, D (in that order).</summary>
    public static double[][] Backward(ScanInputs x)
    {
        var (bs, l, e, n) = x.Size;
        var du = new double[bs * l * e];
        var dDelta = new double[bs * l * e];
        var dA = new double[e * n];
        var dB = new double[bs * l * n];
        var dC = new double[bs * l * n];
        var dD = new double[e];
        var h = new double[l + 1, n];   // h[t + 1] = state after step t, h[0] = 0
        var g = new double[n];
        for (int b = 0; b < bs; b++)
            for (int c = 0; c < e; c++)
            {
                for (int t = 0; t < l; t++)
                {
                    int i = (b * l + t) * e + c;
                    for (int k = 0; k < n; k++)
                        h[t + 1, k] = Math.Exp(x.Delta[i] * x.A[c * n + k]) * h[t, k] + x.Delta[i] * x.U[i] * x.Bm[(b * l + t) * n + k];
                }
                Array.Clear(g);
                for (int t = l - 1; t >= 0; t--)
                {
                    int i = (b * l + t) * e + c;
                    double dy = x.Dy[i], dt = x.Delta[i], u = x.U[i];
                    du[i] += x.D[c] * dy;
                    dD[c] += dy * u;
                    for (int k = 0; k < n; k++)
                    {
                        int bt = (b * l + t) * n + k;
                        double a = Math.Exp(dt * x.A[c * n + k]);
                        double gt = g[k] + dy * x.Cm[bt];          // total ∂/∂h_t
                        dC[bt] += dy * h[t + 1, k];
                        // h_t = a·h_{t−1} + Δ·u·B with a = exp(Δ·A)
                        dA[c * n + k] += gt * h[t, k] * a * dt;
                        dDelta[i] += gt * h[t, k] * a * x.A[c * n + k] + gt * u * x.Bm[bt];
                        du[i] += gt * dt * x.Bm[bt];
                        dB[bt] += gt * dt * u;
                        g[k] = gt * a;
                    }
                }
            }
        return [du, dDelta, dA, dB, dC, dD];
    }

    /// <summary>max |a − e| / max |e| over two arrays (∞ on NaN).</summary>
    public static double RelError(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (double.IsNaN(actual[i])) return double.PositiveInfinity;
            maxDiff = Math.Max(maxDiff, Math.Abs(actual[i] - expected[i]));
            maxAbs = Math.Max(maxAbs, Math.Abs(expected[i]));
        }
        return maxAbs == 0 ? maxDiff : maxDiff / maxAbs;
    }
}
