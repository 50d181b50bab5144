using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Numerics;

namespace Ttt.Cpu.Fast;

/// <summary>
/// LayerNorm and RMSNorm over the last dim in one pass per row (forward) and one per row (backward), for contiguous
/// rows x [N, D] of T = float or double. Row statistics are accumulated in double. The weight/bias gradients are
/// summed per chunk of rows and the chunks added in a fixed order, so results do not depend on the thread count.
/// </summary>
internal static class NormKernels
{
    private const long RowsPerChunk = 64;

    /// <summary>y = (x − μ)·r·w + b with r = 1/√(var + eps); writes μ and r per row.</summary>
    public static void LayerNormForward<T>(Tensor x, Tensor? w, Tensor? b, Tensor y, Tensor mean, Tensor rstd, double eps)
        where T : unmanaged, INumber<T>
    {
        int d = x.Shape[^1];
        long rows = d == 0 ? 0 : x.Numel / d;
        CpuParallel.For(rows, RowsPerChunk, (start, end) =>
        {
            var xs = S<T>(x); var ys = S<T>(y); var ms = S<T>(mean); var rs = S<T>(rstd);
            ReadOnlySpan<T> ws = w is null ? default : S<T>(w), bs = b is null ? default : S<T>(b);
            for (long row = start; row < end; row++)
            {
                var xr = xs.Slice((int)(row * d), d);
                double mu = Sum(xr) / d;
                double var = SumSquaredDeviation(xr, mu) / d;
                double r = 1 / Math.Sqrt(var + eps);
                ms[(int)row] = T.CreateTruncating(mu);
                rs[(int)row] = T.CreateTruncating(r);
                Normalize(xr, T.CreateTruncating(mu), T.CreateTruncating(r), ws, bs, ys.Slice((int)(row * d), d));
            }
        });
    }

    /// <summary>
    /// dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = g·w and x̂ = (x − μ)·r; dw = Σ g·x̂ and db = Σ g over rows
    /// (dw, db null when not wanted).
    /// </summary>
    public static void LayerNormBackward<T>(Tensor x, Tensor? w, Tensor mean, Tensor rstd, Tensor g, Tensor dx, double[]? dw, double[]? db)
        where T : unmanaged, INumber<T>
    {
        int d = x.Shape[^1];
        long rows = d == 0 ? 0 : x.Numel / d;
        int chunks = CpuParallel.ChunkCount(rows, RowsPerChunk);
        var partW = dw is null ? null : new double[chunks * d];
        var partB = db is null ? null : new double[chunks * d];
        CpuParallel.For(chunks, 1, (c0, c1) =>
        {
            var xs = S<T>(x); var ms = S<T>(mean); var rs = S<T>(rstd); var gs = S<T>(g); var dxs = S<T>(dx);
            ReadOnlySpan<T> ws = w is null ? default : S<T>(w);
            var gw = new T[d];
            var xhat = new T[d];
            for (long c = c0; c < c1; c++)
            {
                long start = rows * c / chunks, end = rows * (c + 1) / chunks;
                var pw = partW is null ? default : partW.AsSpan((int)(c * d), d);
                var pb = partB is null ? default : partB.AsSpan((int)(c * d), d);
                for (long row = start; row < end; row++)
                {
                    var xr = xs.Slice((int)(row * d), d);
                    var gr = gs.Slice((int)(row * d), d);
                    T mu = ms[(int)row], r = rs[(int)row];
                    double sumG = 0, sumGx = 0;
                    for (int j = 0; j < d; j++)
                    {
                        T xh = (xr[j] - mu) * r;
                        T gj = ws.IsEmpty ? gr[j] : gr[j] * ws[j];
                        xhat[j] = xh;
                        gw[j] = gj;
                        sumG += double.CreateTruncating(gj);
                        sumGx += double.CreateTruncating(gj * xh);
                        if (!pw.IsEmpty) pw[j] += double.CreateTruncating(gr[j] * xh);
                        if (!pb.IsEmpty) pb[j] += double.CreateTruncating(gr[j]);
                    }
                    T meanG = T.CreateTruncating(sumG / d), meanGx = T.CreateTruncating(sumGx / d);
                    var dxr = dxs.Slice((int)(row * d), d);
                    for (int j = 0; j < d; j++) dxr[j] = r * (gw[j] - meanG - xhat[j] * meanGx);
                }
            }
        });
        Reduce(partW, dw, chunks, d);
        Reduce(partB, db, chunks, d);
    }

    /// <summary>y = x·r·w with r = 1/√(mean(x²) + eps); writes r per row.</summary>
    public static void RmsNormForward<T>(Tensor x, Tensor? w, Tensor y, Tensor rstd, double eps) where T : unmanaged, INumber<T>
    {
        int d = x.Shape[^1];
        long rows = d == 0 ? 0 : x.Numel / d;
        CpuParallel.For(rows, RowsPerChunk, (start, end) =>
        {
            var xs = S<T>(x); var ys = S<T>(y); var rs = S<T>(rstd);
            ReadOnlySpan<T> ws = w is null ? default : S<T>(w);
            for (long row = start; row < end; row++)
            {
                var xr = xs.Slice((int)(row * d), d);
                double r = 1 / Math.Sqrt(SumSquaredDeviation(xr, 0) / d + eps);
                rs[(int)row] = T.CreateTruncating(r);
                Normalize(xr, T.Zero, T.CreateTruncating(r), ws, default, ys.Slice((int)(row * d), d));
            }
        });
    }

    /// <summary>dx = r·(ĝ − x̂·mean(ĝ·x̂)) with ĝ = g·w and x̂ = x·r; dw = Σ g·x̂ over rows (null when not wanted).</summary>
    public static void RmsNormBackward<T>(Tensor x, Tensor? w, Tensor rstd, Tensor g, Tensor dx, double[]? dw) where T : unmanaged, INumber<T>
    {
        int d = x.Shape[^1];
        long rows = d == 0 ? 0 : x.Numel / d;
        int chunks = CpuParallel.ChunkCount(rows, RowsPerChunk);
        var partW = dw is null ? null : new double[chunks * d];
        CpuParallel.For(chunks, 1, (c0, c1) =>
        {
            var xs = S<T>(x); var rs = S<T>(rstd); var gs = S<T>(g); var dxs = S<T>(dx);
            ReadOnlySpan<T> ws = w is null ? default : S<T>(w);
            for (long c = c0; c < c1; c++)
            {
                long start = rows * c / chunks, end = rows * (c + 1) / chunks;
                var pw = partW is null ? default : partW.AsSpan((int)(c * d), d);
                for (long row = start; row < end; row++)
                {
                    var xr = xs.Slice((int)(row * d), d);
                    var gr = gs.Slice((int)(row * d), d);
                    T r = rs[(int)row];
                    double sumGx = 0;
                    for (int j = 0; j < d; j++)
                    {
                        T xh = xr[j] * r;
                        T gj = ws.IsEmpty ? gr[j] : gr[j] * ws[j];
                        sumGx += double.CreateTruncating(gj * xh);
                        if (!pw.IsEmpty) pw[j] += double.CreateTruncating(gr[j] * xh);
                    }
                    T meanGx = T.CreateTruncating(sumGx / d);
                    var dxr = dxs.Slice((int)(row * d), d);
                    for (int j = 0; j < d; j++)
                    {
                        T gj = ws.IsEmpty ? gr[j] : gr[j] * ws[j];
                        dxr[j] = r * (gj - xr[j] * r * meanGx);
                    }
                }
            }
        });
        Reduce(partW, dw, chunks, d);
    }

    /// <summary>The elements of a contiguous CPU tensor.</summary>
    private static Span<T> S<T>(Tensor t) where T : unmanaged => t.Cpu().Span<T>().Slice((int)t.Offset, (int)t.Numel);

    private static void Reduce(double[]? parts, double[]? total, int chunks, int d)
    {
        if (parts is null || total is null) return;
        for (int c = 0; c < chunks; c++)
            for (int j = 0; j < d; j++) total[j] += parts[c * d + j];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Sum<T>(ReadOnlySpan<T> x) where T : unmanaged, INumber<T>
    {
        int j = 0;
        double total = 0;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<T>.Count)
        {
            var acc = Vector<T>.Zero;
            var vx = MemoryMarshal.Cast<T, Vector<T>>(x);
            for (int v = 0; v < vx.Length; v++) acc += vx[v];
            for (int k = 0; k < Vector<T>.Count; k++) total += double.CreateTruncating(acc[k]);
            j = vx.Length * Vector<T>.Count;
        }
        for (; j < x.Length; j++) total += double.CreateTruncating(x[j]);
        return total;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double SumSquaredDeviation<T>(ReadOnlySpan<T> x, double center) where T : unmanaged, INumber<T>
    {
        int j = 0;
        double total = 0;
        T c = T.CreateTruncating(center);
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<T>.Count)
        {
            var acc = Vector<T>.Zero;
            var vc = new Vector<T>(c);
            var vx = MemoryMarshal.Cast<T, Vector<T>>(x);
            for (int v = 0; v < vx.Length; v++)
            {
                var dv = vx[v] - vc;
                acc += dv * dv;
            }
            for (int k = 0; k < Vector<T>.Count; k++) total += double.CreateTruncating(acc[k]);
            j = vx.Length * Vector<T>.Count;
        }
        for (; j < x.Length; j++)
        {
            double dv = double.CreateTruncating(x[j] - c);
            total += dv * dv;
        }
        return total;
    }

    /// <summary>y = (x − μ)·r (·w) (+ b).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Normalize<T>(ReadOnlySpan<T> x, T mu, T r, ReadOnlySpan<T> w, ReadOnlySpan<T> b, Span<T> y) where T : unmanaged, INumber<T>
    {
        int j = 0;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<T>.Count)
        {
            var vx = MemoryMarshal.Cast<T, Vector<T>>(x);
            var vy = MemoryMarshal.Cast<T, Vector<T>>(y);
            var vw = w.IsEmpty ? default : MemoryMarshal.Cast<T, Vector<T>>(w);
            var vb = b.IsEmpty ? default : MemoryMarshal.Cast<T, Vector<T>>(b);
            var vmu = new Vector<T>(mu);
            var vr = new Vector<T>(r);
            for (int v = 0; v < vx.Length; v++)
            {
                var t = (vx[v] - vmu) * vr;
                if (!w.IsEmpty) t *= vw[v];
                if (!b.IsEmpty) t += vb[v];
                vy[v] = t;
            }
            j = vx.Length * Vector<T>.Count;
        }
        for (; j < x.Length; j++)
        {
            T t = (x[j] - mu) * r;
            if (!w.IsEmpty) t *= w[j];
            if (!b.IsEmpty) t += b[j];
            y[j] = t;
        }
    }
}
