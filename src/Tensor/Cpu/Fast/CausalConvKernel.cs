using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Ttt.Cpu.Fast;

/// <summary>
/// Causal depthwise convolution over time for contiguous x, y [B, T, C] and taps w [W, C] (tap k of channel c at
/// w[k·C + c], so a tap is a vector over channels): y[b, t] = bias + Σₖ w[k] ⊙ x[b, t − (W−1) + k], x = 0 before
/// t = 0. One pass over x instead of the W padded multiplies and adds of the composed form; the backward
/// computes dx, dw and dbias in one pass over the gradient. Used by <see cref="Tensor.CausalConv1d"/>.
/// </summary>
internal static unsafe class CausalConvKernel
{
    /// <summary>Time steps per task; the weight gradient's partial sums are per block, so the result is fixed.</summary>
    private const int RowsPerBlock = 64;

    /// <summary>y [B, T, C] from x [B, T, C], taps [W, C] and bias [C] (null: none).</summary>
    public static void Forward<T>(Tensor x, Tensor taps, Tensor? bias, Tensor y) where T : unmanaged
    {
        int b = x.Shape[0], t = x.Shape[1], c = x.Shape[2], width = taps.Shape[0];
        T* px = Ptr<T>(x), pw = Ptr<T>(taps), pb = bias is null ? null : Ptr<T>(bias), py = Ptr<T>(y);
        int blocks = (t + RowsPerBlock - 1) / RowsPerBlock;
        CpuParallel.For((long)b * blocks, 1, (j0, j1) =>
        {
            for (long job = j0; job < j1; job++)
            {
                int batch = (int)(job / blocks), t0 = (int)(job % blocks) * RowsPerBlock, t1 = Math.Min(t0 + RowsPerBlock, t);
                T* xb = px + (long)batch * t * c, yb = py + (long)batch * t * c;
                for (int s = t0; s < t1; s++) Row(yb + (long)s * c, xb, s, pw, pb, width, c);
            }
        });
        GC.KeepAlive(x); GC.KeepAlive(taps); GC.KeepAlive(bias); GC.KeepAlive(y);
    }

    /// <summary>Largest taps buffer, in bytes, that <see cref="ForwardFewRows{T}"/> keeps on the stack.</summary>
    public const int FewRowsMaxTapBytes = 32 << 10;

    /// <summary>
    /// As <see cref="Forward{T}"/> for a few rows (a decoding window: B·T of about W), on this thread, from the
    /// weight [C, 1, W] itself (contiguous; W·C·sizeof(T) at most <see cref="FewRowsMaxTapBytes"/>): it is
    /// transposed into taps on the stack. At these sizes a taps tensor (a transposed copy, its allocation) cost
    /// more than the convolution.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ForwardFewRows<T>(Tensor x, Tensor weight, Tensor? bias, Tensor y) where T : unmanaged
    {
        int b = x.Shape[0], t = x.Shape[1], c = x.Shape[2], width = weight.Shape[2];
        T* taps = stackalloc T[width * c];
        T* pw = Ptr<T>(weight);
        for (int k = 0; k < width; k++)
        {
            T* tap = taps + k * c, column = pw + k;
            for (int ch = 0; ch < c; ch++) tap[ch] = column[ch * width];
        }
        T* px = Ptr<T>(x), pb = bias is null ? null : Ptr<T>(bias), py = Ptr<T>(y);
        for (int batch = 0; batch < b; batch++)
            for (int s = 0; s < t; s++) Row(py + ((long)batch * t + s) * c, px + (long)batch * t * c, s, taps, pb, width, c);
        GC.KeepAlive(x); GC.KeepAlive(weight); GC.KeepAlive(bias); GC.KeepAlive(y);
    }

    /// <summary>Output row s of one sequence xb [T, C]: bias + Σₖ taps[k] ⊙ xb[s − (W−1) + k] (rows before 0 are zero).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row<T>(T* row, T* xb, int s, T* taps, T* bias, int width, int c) where T : unmanaged
    {
        if (bias is null) new Span<T>(row, c).Clear();
        else new ReadOnlySpan<T>(bias, c).CopyTo(new Span<T>(row, c));
        for (int k = 0; k < width; k++)
        {
            int src = s - (width - 1) + k;
            if (src >= 0) MulAdd(row, taps + (long)k * c, xb + (long)src * c, c);
        }
    }

    /// <summary>
    /// dx [B, T, C] (null: not needed), dtaps [W, C] and dbias [C] (null: not needed) from the output gradient
    /// g [B, T, C]: dx[b, s] = Σₖ w[k] ⊙ g[b, s + (W−1) − k]; dw[k] = Σ_{b,t} g[b, t] ⊙ x[b, t − (W−1) + k]; dbias = Σ g.
    /// </summary>
    public static void Backward<T>(Tensor x, Tensor taps, Tensor g, Tensor? dx, Tensor? dtaps, Tensor? dbias) where T : unmanaged
    {
        int b = x.Shape[0], t = x.Shape[1], c = x.Shape[2], width = taps.Shape[0];
        T* px = Ptr<T>(x), pw = Ptr<T>(taps), pg = Ptr<T>(g), pdx = dx is null ? null : Ptr<T>(dx);
        bool wantParams = dtaps is not null || dbias is not null;
        int blocks = (t + RowsPerBlock - 1) / RowsPerBlock;
        long jobs = (long)b * blocks;
        // Per-block partial sums of [dw (W rows); dbias], summed in job order afterwards: deterministic.
        var partial = wantParams ? new T[jobs * (width + 1) * c] : null;
        fixed (T* pp = partial)
        {
            T* ppLocal = pp;
            CpuParallel.For(jobs, 1, (j0, j1) =>
            {
                for (long job = j0; job < j1; job++)
                {
                    int batch = (int)(job / blocks), t0 = (int)(job % blocks) * RowsPerBlock, t1 = Math.Min(t0 + RowsPerBlock, t);
                    T* xb = px + (long)batch * t * c, gb = pg + (long)batch * t * c;
                    if (pdx is not null)
                    {
                        T* dxb = pdx + (long)batch * t * c;
                        for (int s = t0; s < t1; s++)
                        {
                            T* row = dxb + (long)s * c;
                            new Span<T>(row, c).Clear();
                            for (int k = 0; k < width; k++)
                            {
                                int src = s + (width - 1) - k;
                                if (src < t) MulAdd(row, pw + (long)k * c, gb + (long)src * c, c);
                            }
                        }
                    }
                    if (ppLocal is null) continue;
                    T* acc = ppLocal + job * (width + 1) * c;
                    for (int s = t0; s < t1; s++)
                    {
                        T* gRow = gb + (long)s * c;
                        for (int k = 0; k < width; k++)
                        {
                            int src = s - (width - 1) + k;
                            if (src >= 0) MulAdd(acc + (long)k * c, gRow, xb + (long)src * c, c);
                        }
                        Add(acc + (long)width * c, gRow, c);
                    }
                }
            });
            if (ppLocal is not null)
            {
                // Sum the blocks' partials in float64, in job order.
                var sum = new double[(width + 1) * c];
                for (long job = 0; job < jobs; job++)
                {
                    T* acc = ppLocal + job * (width + 1) * c;
                    for (int i = 0; i < sum.Length; i++) sum[i] += VMath.ToDouble(acc[i]);
                }
                if (dtaps is not null)
                {
                    T* pdw = Ptr<T>(dtaps);
                    for (int i = 0; i < width * c; i++) pdw[i] = VMath.Scalar<T>(sum[i]);
                }
                if (dbias is not null)
                {
                    T* pdb = Ptr<T>(dbias);
                    for (int i = 0; i < c; i++) pdb[i] = VMath.Scalar<T>(sum[width * c + i]);
                }
            }
        }
        GC.KeepAlive(x); GC.KeepAlive(taps); GC.KeepAlive(g); GC.KeepAlive(dx); GC.KeepAlive(dtaps); GC.KeepAlive(dbias);
    }

    private static T* Ptr<T>(Tensor t) where T : unmanaged => (T*)(t.Cpu().Pointer + (nint)(t.Offset * sizeof(T)));

    /// <summary>acc[0..n) += a ⊙ b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MulAdd<T>(T* acc, T* a, T* b, int n) where T : unmanaged
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + Vector512<T>.Count <= n; i += Vector512<T>.Count)
                Vector512.Store(Vector512.Load(acc + i) + Vector512.Load(a + i) * Vector512.Load(b + i), acc + i);
        else if (Vector256.IsHardwareAccelerated)
            for (; i + Vector256<T>.Count <= n; i += Vector256<T>.Count)
                Vector256.Store(Vector256.Load(acc + i) + Vector256.Load(a + i) * Vector256.Load(b + i), acc + i);
        for (; i < n; i++) acc[i] = VMath.Scalar<T>(VMath.ToDouble(acc[i]) + VMath.ToDouble(a[i]) * VMath.ToDouble(b[i]));
    }

    /// <summary>acc[0..n) += a.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Add<T>(T* acc, T* a, int n) where T : unmanaged
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + Vector512<T>.Count <= n; i += Vector512<T>.Count)
                Vector512.Store(Vector512.Load(acc + i) + Vector512.Load(a + i), acc + i);
        else if (Vector256.IsHardwareAccelerated)
            for (; i + Vector256<T>.Count <= n; i += Vector256<T>.Count)
                Vector256.Store(Vector256.Load(acc + i) + Vector256.Load(a + i), acc + i);
        for (; i < n; i++) acc[i] = VMath.Scalar<T>(VMath.ToDouble(acc[i]) + VMath.ToDouble(a[i]));
    }
}
