using System.Numerics;

namespace Ttt.Cpu.Fast;

/// <summary>
/// Softmax + cross-entropy over rows of logits [N, C] (unit stride along C, any row stride) in one pass per row:
/// forward keeps only the row log-sum-exp, backward writes softmax − one-hot scaled by the upstream gradient
/// straight into the logits' gradient. Row sums in double. Used by <see cref="Tensor.FusedCrossEntropy"/>.
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
                double max = double.NegativeInfinity;
                for (int j = 0; j < c; j++) max = Math.Max(max, double.CreateTruncating(row[j]));
                double sum = 0;
                for (int j = 0; j < c; j++) sum += Math.Exp(double.CreateTruncating(row[j]) - max);
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
                for (int j = 0; j < c; j++) d[j] = T.CreateTruncating(scale * Math.Exp(double.CreateTruncating(row[j]) - l));
                d[(int)t] = T.CreateTruncating(scale * (Math.Exp(double.CreateTruncating(row[(int)t]) - l) - 1));
            }
        });
    }
}
