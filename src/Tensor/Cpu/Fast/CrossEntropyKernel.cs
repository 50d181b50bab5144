using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Ttt.Cpu.Fast;

/// <summary>
/// Softmax + cross-entropy over rows of logits [N, C] (unit stride along C, any row stride) in one pass per row:
/// forward keeps only the row log-sum-exp, backward writes softmax − one-hot scaled by the upstream gradient
/// straight into the logits' gradient. Row sums in double. Used by <see cref="Tensor.FusedCrossEntropy"/>.
/// The exponentials are SIMD (a 32,000-word vocabulary at T = 2048 takes 65 M of them per pass); the float32
/// path computes exp in float32 of an argument rounded from double, so each probability is within a few ulp.
/// </summary>
internal static class CrossEntropyKernel
{
    private const long RowsPerChunk = 16;

    /// <summary>Writes lse[i] and, for rows whose target is valid, loss[i] = lse[i] − x[i, target[i]] (else 0).</summary>
    public static void Forward<T>(Tensor logits, long[] targets, long ignoreIndex, double[] lse, double[] loss) where T : unmanaged, INumber<T>
    {
        int c = logits.Shape[1];
        long rowStride = logits.Strides[0];
        CpuParallel.For(targets.Length, RowsPerChunk, (start, end) =>
        {
            var all = logits.Cpu().Span<T>();
            for (long i = start; i < end; i++)
            {
                var row = all.Slice((int)(logits.Offset + i * rowStride), c);
                double max = RowMax<T>(row);
                double sum = SumExp<T>(row, max);
                double l = max + Math.Log(sum);
                lse[i] = l;
                long t = targets[i];
                loss[i] = t == ignoreIndex ? 0 : l - double.CreateTruncating(row[(int)t]);
            }
        });
    }

    /// <summary>dx[i, j] = scale·(exp(x[i, j] − lse[i]) − [j = target[i]]) on valid rows, 0 on ignored rows; dx contiguous [N, C].</summary>
    public static void Backward<T>(Tensor logits, long[] targets, long ignoreIndex, double[] lse, double scale, Tensor dx) where T : unmanaged, INumber<T>
    {
        int c = logits.Shape[1];
        long rowStride = logits.Strides[0];
        CpuParallel.For(targets.Length, RowsPerChunk, (start, end) =>
        {
            var all = logits.Cpu().Span<T>();
            var outAll = dx.Cpu().Span<T>().Slice((int)dx.Offset);
            for (long i = start; i < end; i++)
            {
                var row = all.Slice((int)(logits.Offset + i * rowStride), c);
                var d = outAll.Slice((int)(i * c), c);
                long t = targets[i];
                if (t == ignoreIndex)
                {
                    d.Clear();
                    continue;
                }
                double l = lse[i];
                ScaledExp<T>(row, l, scale, d);
                d[(int)t] = T.CreateTruncating(scale * (Math.Exp(double.CreateTruncating(row[(int)t]) - l) - 1));
            }
        });
    }

    private static double RowMax<T>(ReadOnlySpan<T> row) where T : unmanaged, INumber<T>
    {
        ref T x = ref MemoryMarshal.GetReference(row);
        int j = 0;
        double max = double.NegativeInfinity;
        if (Vector512.IsHardwareAccelerated && row.Length >= Vector512<T>.Count)
        {
            var m = Vector512.LoadUnsafe(ref x);
            for (j = Vector512<T>.Count; j + Vector512<T>.Count <= row.Length; j += Vector512<T>.Count)
                m = Vector512.Max(m, Vector512.LoadUnsafe(ref x, (nuint)j));
            for (int k = 0; k < Vector512<T>.Count; k++) max = Math.Max(max, double.CreateTruncating(m.GetElement(k)));
        }
        for (; j < row.Length; j++) max = Math.Max(max, double.CreateTruncating(row[j]));
        return max;
    }

    /// <summary>Σ_j exp(row[j] − max), accumulated in double.</summary>
    private static double SumExp<T>(ReadOnlySpan<T> row, double max) where T : unmanaged, INumber<T>
    {
        ref T x = ref MemoryMarshal.GetReference(row);
        int j = 0;
        double sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vm = Vector512.Create(T.CreateTruncating(max));
            var acc = Vector512<double>.Zero;
            for (; j + Vector512<T>.Count <= row.Length; j += Vector512<T>.Count)
            {
                var e = VMath.Exp(Vector512.LoadUnsafe(ref x, (nuint)j) - vm);
                if (typeof(T) == typeof(float))
                {
                    var (lo, hi) = Vector512.Widen(e.AsSingle());
                    acc += lo + hi;
                }
                else acc += e.AsDouble();
            }
            sum = Vector512.Sum(acc);
        }
        for (; j < row.Length; j++) sum += Math.Exp(double.CreateTruncating(row[j]) - max);
        return sum;
    }

    /// <summary>d[j] = scale·exp(row[j] − lse).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScaledExp<T>(ReadOnlySpan<T> row, double lse, double scale, Span<T> d) where T : unmanaged, INumber<T>
    {
        ref T x = ref MemoryMarshal.GetReference(row);
        ref T y = ref MemoryMarshal.GetReference(d);
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vl = Vector512.Create(T.CreateTruncating(lse));
            var vs = Vector512.Create(T.CreateTruncating(scale));
            for (; j + Vector512<T>.Count <= row.Length; j += Vector512<T>.Count)
                (vs * VMath.Exp(Vector512.LoadUnsafe(ref x, (nuint)j) - vl)).StoreUnsafe(ref y, (nuint)j);
        }
        for (; j < row.Length; j++) d[j] = T.CreateTruncating(scale * Math.Exp(double.CreateTruncating(row[j]) - lse));
    }
}
