using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Ttt.Backends;

namespace Ttt.Cpu.Fast;

/// <summary>
/// Sum/max/min over a set of dims. The input is viewed as [kept…, reduced…]; three strategies:
/// a contiguous reduced block (row reduction, SIMD over the row), reduced dims outside a contiguous kept row
/// (column reduction, SIMD across the kept row), and a general strided loop.
/// </summary>
internal static class Reductions
{
    public static void Reduce<T>(ReduceOp op, Tensor x, ReadOnlySpan<int> dims, Tensor y) where T : unmanaged
    {
        int rank = x.Rank;
        var keep = new List<int>();
        for (int d = 0; d < rank; d++) if (!dims.Contains(d)) keep.Add(d);
        var xs = x.Cpu();
        var ys = y.Cpu();
        // Coalesced descriptions of the kept part (iterated over outputs) and the reduced part.
        var (kShape, kStrides) = Coalesce(x, keep);
        var (rShape, rStrides) = Coalesce(x, dims.ToArray());
        long outCount = y.Numel;
        long rCount = ShapeUtil.Numel(rShape);
        // y is contiguous with keepdim shape, so output i ↔ kept multi-index i in row-major order.
        if (rCount == 0)
        {
            double init = op == ReduceOp.Sum ? 0 : double.NaN;
            CpuBackends.Fast.Fill(y, init);
            return;
        }
        if (rShape.Length == 1 && rStrides[0] == 1)
        {
            int len = rShape[0];
            CpuParallel.For(outCount, Math.Max(1, (1 << 14) / Math.Max(len, 1)), (s, e) =>
            {
                ref T x0 = ref xs.Ref<T>();
                ref T y0 = ref ys.Ref<T>();
                for (long i = s; i < e; i++)
                {
                    long off = x.Offset + OffsetOf(kShape, kStrides, i);
                    Unsafe.Add(ref y0, (nint)(y.Offset + i)) = ReduceRow(op, ref Unsafe.Add(ref x0, (nint)off), len);
                }
            });
            return;
        }
        if (kShape.Length >= 1 && kStrides[^1] == 1 && kShape[^1] >= 16)
        {
            int inner = kShape[^1];
            long outer = outCount / inner;
            var kOuterShape = kShape[..^1];
            var kOuterStrides = kStrides[..^1];
            // Parallel over (outer × column blocks); each block accumulates rows of the reduced space.
            const int Block = 256;
            int blocks = (inner + Block - 1) / Block;
            CpuParallel.For(outer * blocks, 1, (s, e) =>
            {
                var acc = new double[Block];
                ref T x0 = ref xs.Ref<T>();
                ref T y0 = ref ys.Ref<T>();
                for (long t = s; t < e; t++)
                {
                    long o = t / blocks;
                    int c0 = (int)(t % blocks) * Block;
                    int cn = Math.Min(Block, inner - c0);
                    long baseOff = x.Offset + OffsetOf(kOuterShape, kOuterStrides, o) + c0;
                    ColumnReduce(op, ref x0, baseOff, rShape, rStrides, rCount, cn, ref Unsafe.Add(ref y0, (nint)(y.Offset + o * inner + c0)));
                }
            });
            return;
        }
        CpuParallel.For(outCount, 64, (s, e) =>
        {
            ref T x0 = ref xs.Ref<T>();
            ref T y0 = ref ys.Ref<T>();
            for (long i = s; i < e; i++)
            {
                long baseOff = x.Offset + OffsetOf(kShape, kStrides, i);
                double acc = Init(op);
                for (long r = 0; r < rCount; r++)
                    acc = Combine(op, acc, VMath.ToDouble(Unsafe.Add(ref x0, (nint)(baseOff + OffsetOf(rShape, rStrides, r)))));
                Unsafe.Add(ref y0, (nint)(y.Offset + i)) = VMath.Scalar<T>(acc);
            }
        });
    }

    private static void ColumnReduce<T>(ReduceOp op, ref T x0, long baseOff, int[] rShape, long[] rStrides, long rCount, int cn, ref T y)
        where T : unmanaged
    {
        // Accumulate in T with SIMD across the columns; the rows of the reduced space are visited in order.
        Span<T> acc = stackalloc T[256];
        T init = VMath.Scalar<T>(Init(op));
        acc[..cn].Fill(init);
        ref T a0 = ref acc[0];
        for (long r = 0; r < rCount; r++)
        {
            ref T row = ref Unsafe.Add(ref x0, (nint)(baseOff + OffsetOf(rShape, rStrides, r)));
            int j = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; j <= cn - Vector512<T>.Count; j += Vector512<T>.Count)
                {
                    var a = Vector512.LoadUnsafe(ref a0, (nuint)j);
                    var v = Vector512.LoadUnsafe(ref row, (nuint)j);
                    (op switch { ReduceOp.Sum => a + v, ReduceOp.Max => Vector512.Max(a, v), _ => Vector512.Min(a, v) }).StoreUnsafe(ref a0, (nuint)j);
                }
            else if (Vector256.IsHardwareAccelerated)
                for (; j <= cn - Vector256<T>.Count; j += Vector256<T>.Count)
                {
                    var a = Vector256.LoadUnsafe(ref a0, (nuint)j);
                    var v = Vector256.LoadUnsafe(ref row, (nuint)j);
                    (op switch { ReduceOp.Sum => a + v, ReduceOp.Max => Vector256.Max(a, v), _ => Vector256.Min(a, v) }).StoreUnsafe(ref a0, (nuint)j);
                }
            for (; j < cn; j++)
                Unsafe.Add(ref a0, j) = VMath.Scalar<T>(Combine(op, VMath.ToDouble(Unsafe.Add(ref a0, j)), VMath.ToDouble(Unsafe.Add(ref row, j))));
        }
        for (int j = 0; j < cn; j++) Unsafe.Add(ref y, j) = acc[j];
    }

    /// <summary>Sum/max/min of a contiguous row with SIMD partial results.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T ReduceRow<T>(ReduceOp op, ref T x, int n) where T : unmanaged
    {
        int i = 0;
        double acc = Init(op);
        if (Vector512.IsHardwareAccelerated && n >= 2 * Vector512<T>.Count)
        {
            int w = Vector512<T>.Count;
            var a0 = Vector512.LoadUnsafe(ref x, 0);
            var a1 = Vector512.LoadUnsafe(ref x, (nuint)w);
            for (i = 2 * w; i <= n - 2 * w; i += 2 * w)
            {
                var v0 = Vector512.LoadUnsafe(ref x, (nuint)i);
                var v1 = Vector512.LoadUnsafe(ref x, (nuint)(i + w));
                if (op == ReduceOp.Sum) { a0 += v0; a1 += v1; }
                else if (op == ReduceOp.Max) { a0 = Vector512.Max(a0, v0); a1 = Vector512.Max(a1, v1); }
                else { a0 = Vector512.Min(a0, v0); a1 = Vector512.Min(a1, v1); }
            }
            var a = op == ReduceOp.Sum ? a0 + a1 : op == ReduceOp.Max ? Vector512.Max(a0, a1) : Vector512.Min(a0, a1);
            for (int k = 0; k < w; k++) acc = Combine(op, acc, VMath.ToDouble(a[k]));
        }
        else if (Vector256.IsHardwareAccelerated && n >= 2 * Vector256<T>.Count)
        {
            int w = Vector256<T>.Count;
            var a0 = Vector256.LoadUnsafe(ref x, 0);
            var a1 = Vector256.LoadUnsafe(ref x, (nuint)w);
            for (i = 2 * w; i <= n - 2 * w; i += 2 * w)
            {
                var v0 = Vector256.LoadUnsafe(ref x, (nuint)i);
                var v1 = Vector256.LoadUnsafe(ref x, (nuint)(i + w));
                if (op == ReduceOp.Sum) { a0 += v0; a1 += v1; }
                else if (op == ReduceOp.Max) { a0 = Vector256.Max(a0, v0); a1 = Vector256.Max(a1, v1); }
                else { a0 = Vector256.Min(a0, v0); a1 = Vector256.Min(a1, v1); }
            }
            var a = op == ReduceOp.Sum ? a0 + a1 : op == ReduceOp.Max ? Vector256.Max(a0, a1) : Vector256.Min(a0, a1);
            for (int k = 0; k < w; k++) acc = Combine(op, acc, VMath.ToDouble(a[k]));
        }
        for (; i < n; i++) acc = Combine(op, acc, VMath.ToDouble(Unsafe.Add(ref x, i)));
        return VMath.Scalar<T>(acc);
    }

    private static double Init(ReduceOp op) => op switch { ReduceOp.Sum => 0, ReduceOp.Max => double.NegativeInfinity, _ => double.PositiveInfinity };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Combine(ReduceOp op, double acc, double v) => op switch
    {
        ReduceOp.Sum => acc + v,
        ReduceOp.Max => double.IsNaN(v) || v > acc ? v : acc,
        _ => double.IsNaN(v) || v < acc ? v : acc,
    };

    /// <summary>Offset of the linear index <paramref name="i"/> in a (coalesced) sub-space.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long OffsetOf(int[] shape, long[] strides, long i)
    {
        long off = 0;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            int n = shape[d];
            off += (i % n) * strides[d];
            i /= n;
        }
        return off;
    }

    /// <summary>The dims <paramref name="dims"/> of x, in order, with size-1 dims dropped and mergeable dims merged.</summary>
    public static (int[] Shape, long[] Strides) Coalesce(Tensor x, IReadOnlyList<int> dims)
    {
        var shape = new List<int>();
        var strides = new List<long>();
        foreach (int d in dims)
        {
            int n = x.ShapeRef[d];
            long s = x.StridesRef[d];
            if (n == 1) continue;
            if (shape.Count > 0 && strides[^1] == s * n)
            {
                shape[^1] *= n;
                strides[^1] = s;
            }
            else
            {
                shape.Add(n);
                strides.Add(s);
            }
        }
        return ([.. shape], [.. strides]);
    }

    /// <summary>Index of the max/min along one dim (first wins ties; NaN counts as the extreme).</summary>
    public static void ArgReduce<T>(ArgReduceOp op, Tensor x, int dim, Tensor y) where T : unmanaged
    {
        var xs = x.Cpu();
        var ys = y.Cpu();
        var keep = Enumerable.Range(0, x.Rank).Where(d => d != dim).ToList();
        var (kShape, kStrides) = Coalesce(x, keep);
        int len = x.ShapeRef[dim];
        long stride = x.StridesRef[dim];
        CpuParallel.For(y.Numel, Math.Max(1, 4096 / Math.Max(len, 1)), (s, e) =>
        {
            ref T x0 = ref xs.Ref<T>();
            ref long y0 = ref ys.Ref<long>();
            for (long i = s; i < e; i++)
            {
                long off = x.Offset + OffsetOf(kShape, kStrides, i);
                long best = 0;
                double bestV = double.NaN;
                for (int j = 0; j < len; j++)
                {
                    double v = VMath.ToDouble(Unsafe.Add(ref x0, (nint)(off + j * stride)));
                    if (double.IsNaN(bestV) && j > 0) break;
                    if (j == 0 || (op == ArgReduceOp.ArgMax ? v > bestV : v < bestV) || double.IsNaN(v))
                    {
                        best = j;
                        bestV = v;
                    }
                }
                Unsafe.Add(ref y0, (nint)(y.Offset + i)) = best;
            }
        });
    }
}
