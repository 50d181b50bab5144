using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Ttt.Cpu;

namespace Ttt.Training;

/// <summary>
/// CPU kernels for the once-per-step passes over every parameter (global gradient norm, AdamW). At the 125m size
/// each pass streams about 110 M elements, so they are SIMD, split across threads, and allocate nothing.
/// Both compute in float64 with the operations of the scalar definition in the same order, so the vector and
/// scalar paths agree bit for bit; the norm's block-wise partial sums do not depend on the thread count.
/// </summary>
internal static unsafe class OptimizerKernels
{
    /// <summary>Elements per partial sum of <see cref="SumOfSquares{T}"/>: fixed, so the sum's rounding is too.</summary>
    private const int NormBlock = 1 << 16;

    /// <summary>Σ x² in float64 over a contiguous float32 or float64 CPU tensor [n].</summary>
    public static double SumOfSquares<T>(Tensor x) where T : unmanaged
    {
        long n = x.Numel;
        nint data = ((CpuStorage)x.Storage).Pointer + (nint)(x.Offset * sizeof(T));
        int blocks = (int)((n + NormBlock - 1) / NormBlock);
        var partial = new double[blocks];
        CpuParallel.For(blocks, 1, (b0, b1) =>
        {
            for (long b = b0; b < b1; b++)
            {
                long start = b * NormBlock;
                partial[b] = BlockSumOfSquares((T*)data + start, (int)Math.Min(NormBlock, n - start));
            }
        });
        GC.KeepAlive(x);   // the storage behind `data` must not be finalized into the pool mid-pass
        double sum = 0;
        foreach (double p in partial) sum += p;
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double BlockSumOfSquares<T>(T* x, int n) where T : unmanaged
    {
        var a0 = Vector512<double>.Zero;
        var a1 = Vector512<double>.Zero;
        int i = 0;
        if (typeof(T) == typeof(float))
        {
            for (; i + 16 <= n; i += 16)
            {
                var (lo, hi) = Vector512.Widen(Vector512.Load((float*)x + i));
                a0 = Vector512.FusedMultiplyAdd(lo, lo, a0);
                a1 = Vector512.FusedMultiplyAdd(hi, hi, a1);
            }
        }
        else
        {
            for (; i + 16 <= n; i += 16)
            {
                var lo = Vector512.Load((double*)x + i);
                var hi = Vector512.Load((double*)x + i + 8);
                a0 = Vector512.FusedMultiplyAdd(lo, lo, a0);
                a1 = Vector512.FusedMultiplyAdd(hi, hi, a1);
            }
        }
        double sum = Vector512.Sum(a0 + a1);
        for (; i < n; i++)
        {
            double v = typeof(T) == typeof(float) ? ((float*)x)[i] : ((double*)x)[i];
            sum += v * v;
        }
        return sum;
    }

    /// <summary>The AdamW constants of one update (see <see cref="AdamW"/>).</summary>
    public readonly record struct AdamWStep(double Lr, double Beta1, double Beta2, double Eps, double WeightDecay, double C1, double C2);

    /// <summary>
    /// One AdamW update of contiguous CPU tensors p, m, v [n] from g [n] (null: a zero gradient), in float64:
    /// m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p − lr·(m/c1 / (√(v/c2) + ε) + λ·p).
    /// </summary>
    public static void AdamW<T>(Tensor p, Tensor? g, Tensor m, Tensor v, AdamWStep s) where T : unmanaged
    {
        long n = p.Numel;
        nint ps = Address<T>(p), ms = Address<T>(m), vs = Address<T>(v), gs = g is null ? 0 : Address<T>(g);
        CpuParallel.For(n, 1 << 15, (start, end) =>
        {
            if (typeof(T) == typeof(float)) AdamWRange((float*)ps, (float*)gs, (float*)ms, (float*)vs, start, end, s);
            else AdamWRange((double*)ps, (double*)gs, (double*)ms, (double*)vs, start, end, s);
        });
        GC.KeepAlive(p);
        GC.KeepAlive(g);
        GC.KeepAlive(m);
        GC.KeepAlive(v);
    }

    private static nint Address<T>(Tensor t) where T : unmanaged =>
        ((CpuStorage)t.Storage).Pointer + (nint)(t.Offset * sizeof(T));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AdamWRange(float* p, float* g, float* m, float* v, long i, long end, AdamWStep s)
    {
        for (; i + 16 <= end; i += 16)
        {
            // Sixteen float32 elements widen to two halves of eight float64 ones and narrow back after the update.
            var (gLo, gHi) = g is null ? (Vector512<double>.Zero, Vector512<double>.Zero) : Vector512.Widen(Vector512.Load(g + i));
            var (mLo, mHi) = Vector512.Widen(Vector512.Load(m + i));
            var (vLo, vHi) = Vector512.Widen(Vector512.Load(v + i));
            var (pLo, pHi) = Vector512.Widen(Vector512.Load(p + i));
            Step(gLo, ref mLo, ref vLo, ref pLo, s);
            Step(gHi, ref mHi, ref vHi, ref pHi, s);
            Vector512.Narrow(mLo, mHi).Store(m + i);
            Vector512.Narrow(vLo, vHi).Store(v + i);
            Vector512.Narrow(pLo, pHi).Store(p + i);
        }
        for (; i < end; i++)
        {
            (double mi, double vi, double pi) = Step(g is null ? 0 : g[i], m[i], v[i], p[i], s);
            (m[i], v[i], p[i]) = ((float)mi, (float)vi, (float)pi);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AdamWRange(double* p, double* g, double* m, double* v, long i, long end, AdamWStep s)
    {
        for (; i + 8 <= end; i += 8)
        {
            var gi = g is null ? Vector512<double>.Zero : Vector512.Load(g + i);
            var (mi, vi, pi) = (Vector512.Load(m + i), Vector512.Load(v + i), Vector512.Load(p + i));
            Step(gi, ref mi, ref vi, ref pi, s);
            mi.Store(m + i);
            vi.Store(v + i);
            pi.Store(p + i);
        }
        for (; i < end; i++)
            (m[i], v[i], p[i]) = Step(g is null ? 0 : g[i], m[i], v[i], p[i], s);
    }

    /// <summary>The update of eight elements: the operations of the scalar one below, in the same order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(Vector512<double> g, ref Vector512<double> m, ref Vector512<double> v, ref Vector512<double> p, AdamWStep s)
    {
        m = Vector512.Create(s.Beta1) * m + Vector512.Create(1 - s.Beta1) * g;
        v = Vector512.Create(s.Beta2) * v + Vector512.Create(1 - s.Beta2) * g * g;
        var update = m / Vector512.Create(s.C1) / (Vector512.Sqrt(v / Vector512.Create(s.C2)) + Vector512.Create(s.Eps))
            + Vector512.Create(s.WeightDecay) * p;
        p -= Vector512.Create(s.Lr) * update;
    }

    private static (double M, double V, double P) Step(double g, double m, double v, double p, AdamWStep s)
    {
        double mNew = s.Beta1 * m + (1 - s.Beta1) * g;
        double vNew = s.Beta2 * v + (1 - s.Beta2) * g * g;
        return (mNew, vNew, p - s.Lr * (mNew / s.C1 / (Math.Sqrt(vNew / s.C2) + s.Eps) + s.WeightDecay * p));
    }
}
