using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ttt.Cpu;

public static unsafe partial class Gemm
{
    /// <summary>
    /// A row vector times a matrix, y[n] = x[k]·B[k, n]: y[j·ys] = Σ_p x[p·xs]·B(p, j), B(p, j) at b + p·rsB + j·csB.
    /// Both m = 1 (x = the row of A) and n = 1 (transposed: x = the column of B, matrix Aᵀ) come here.
    /// </summary>
    private readonly struct GemvArgs<T> where T : unmanaged
    {
        public readonly int N, K;
        public readonly T* X, B, Y;
        public readonly long Xs, RsB, CsB, Ys;

        public GemvArgs(int n, int k, T* x, long xs, T* b, long rsB, long csB, T* y, long ys)
        {
            (N, K, Xs, RsB, CsB, Ys) = (n, k, xs, rsB, csB, ys);
            X = x;
            B = b;
            Y = y;
        }
    }

    /// <summary>Fewest columns worth a parallel region.</summary>
    private const int GemvGrain = 64;

    /// <summary>
    /// A matrix-vector product is memory-bound (each element of B is used once), so nothing is packed: B is
    /// streamed in place, by rows (y += x[p]·B[p, :], four rows per pass) when its rows are contiguous, and as dot
    /// products of contiguous columns when B is transposed (the common x·Wᵀ of a linear layer at decode time).
    /// Threads split the columns into one contiguous range each (not the usual several chunks per thread), plus a
    /// small shared tail (<see cref="GemvSplit"/>): a thread then streams long runs of every row of B, where 64-column
    /// chunks would read 256-byte pieces of rows 3 KB apart (for 768 columns), which the hardware prefetchers follow
    /// poorly. Products of at most <see cref="GemvGrain"/> columns run on the calling thread.
    /// </summary>
    private static void Gemv<T>(GemvArgs<T> g, int threads, Job<T> job) where T : unmanaged
    {
        if (g.CsB != 1 && g.RsB == 1 && g.Xs != 1)
        {
            // The dot form wants x contiguous; a strided x (a column of a row-major matrix) is copied once.
            T* copy = Scratch<T>.Vector(g.K);
            for (int p = 0; p < g.K; p++) copy[p] = g.X[p * g.Xs];
            g = new GemvArgs<T>(g.N, g.K, copy, 1, g.B, g.RsB, g.CsB, g.Y, g.Ys);
        }
        int units = (g.N + GemvGrain - 1) / GemvGrain;
        if (threads == 1 || units == 1)
        {
            GemvColumns(g, 0, g.N);
            return;
        }
        job.Vector = g;
        job.Split = GemvSplit.For(g.N, threads);
        CpuParallel.ForChunks(job.Split.Tasks, job.Split.Tasks, threads, job, static (j, t0, t1) =>
        {
            for (long t = t0; t < t1; t++)
            {
                var (c0, c1) = j.Split.Columns((int)t, j.Vector.N);
                if (c1 > c0) GemvColumns(j.Vector, c0, c1);
            }
        });
    }

    /// <summary>
    /// The column ranges of a parallel matrix-vector product: one long contiguous range per thread with about 90 % of
    /// the columns (the prefetchers follow long streams), then the rest in a few small pieces that whichever thread
    /// is free first takes. Equal halves left the calling thread waiting about 10 µs at the end of each product of a
    /// 125m decoding step (the pool's worker streamed its half about 5 % slower on the reference machine, and the
    /// host's load moves either way); with the tail shared, a token took 2–3 % less time (three alternated runs).
    /// </summary>
    private readonly struct GemvSplit(int threads, int mainBlocks, int tailBlocks, int pieces)
    {
        /// <summary>Columns per block: two <see cref="Dot8{T}"/> passes, or one 512-bit float32 vector of the by-rows form.</summary>
        private const int Block = 16;

        /// <summary>The threads' ranges, then the tail pieces.</summary>
        public int Tasks => threads + pieces;

        /// <summary>Columns [start, end) of task <paramref name="task"/> of a product with <paramref name="n"/> columns.</summary>
        public (int Start, int End) Columns(int task, int n)
        {
            int b0, b1;
            if (task < threads) (b0, b1) = (task * mainBlocks / threads, (task + 1) * mainBlocks / threads);
            else
            {
                int p = task - threads;
                (b0, b1) = (mainBlocks + p * tailBlocks / pieces, mainBlocks + (p + 1) * tailBlocks / pieces);
            }
            return (Math.Min(b0 * Block, n), Math.Min(b1 * Block, n));
        }

        public static GemvSplit For(int n, int threads)
        {
            int blocks = (n + Block - 1) / Block, tail = blocks / 10, pieces = Math.Min(tail, 2 * threads);
            return pieces == 0 ? new GemvSplit(threads, blocks, 0, 0) : new GemvSplit(threads, blocks - tail, tail, pieces);
        }
    }

    /// <summary>Columns [j0, j1) of y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemvColumns<T>(in GemvArgs<T> g, int j0, int j1) where T : unmanaged
    {
        if (g.CsB == 1) GemvByRows(g, j0, j1);
        else if (g.RsB == 1) GemvByColumns(g, j0, j1);
        else
        {
            for (int j = j0; j < j1; j++)
            {
                T sum = default;
                for (int p = 0; p < g.K; p++) sum = MulAdd(g.X[p * g.Xs], g.B[p * g.RsB + j * g.CsB], sum);
                g.Y[j * g.Ys] = sum;
            }
        }
    }

    /// <summary>Row-major B: y[j0..j1) accumulates Σ_p x[p]·B[p, j0..j1) in L1-sized column blocks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemvByRows<T>(in GemvArgs<T> g, int j0, int j1) where T : unmanaged
    {
        const int block = 512;
        T* acc = stackalloc T[block];
        for (int jb = j0; jb < j1; jb += block)
        {
            int width = Math.Min(block, j1 - jb);
            new Span<T>(acc, width).Clear();
            T* row = g.B + jb;
            int p = 0;
            for (; p + 4 <= g.K; p += 4)
            {
                T* r0 = row + p * g.RsB;
                AxpyFour(acc, width, g.X[p * g.Xs], g.X[(p + 1) * g.Xs], g.X[(p + 2) * g.Xs], g.X[(p + 3) * g.Xs],
                    r0, r0 + g.RsB, r0 + 2 * g.RsB, r0 + 3 * g.RsB);
            }
            for (; p < g.K; p++)
            {
                T x = g.X[p * g.Xs];
                T* r = row + p * g.RsB;
                for (int j = 0; j < width; j++) acc[j] = MulAdd(x, r[j], acc[j]);
            }
            T* y = g.Y + jb * g.Ys;
            if (g.Ys == 1) new ReadOnlySpan<T>(acc, width).CopyTo(new Span<T>(y, width));
            else for (int j = 0; j < width; j++) y[j * g.Ys] = acc[j];
        }
    }

    /// <summary>acc[0..width) += x0·r0 + x1·r1 + x2·r2 + x3·r3: four rows of B per pass over the accumulator.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AxpyFour<T>(T* acc, int width, T x0, T x1, T x2, T x3, T* r0, T* r1, T* r2, T* r3)
        where T : unmanaged
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var v0 = Vector512.Create(x0);
            var v1 = Vector512.Create(x1);
            var v2 = Vector512.Create(x2);
            var v3 = Vector512.Create(x3);
            for (; j + Vector512<T>.Count <= width; j += Vector512<T>.Count)
            {
                var s = Fma(v0, Vector512.Load(r0 + j), Vector512.Load(acc + j));
                s = Fma(v1, Vector512.Load(r1 + j), s);
                s = Fma(v2, Vector512.Load(r2 + j), s);
                Vector512.Store(Fma(v3, Vector512.Load(r3 + j), s), acc + j);
            }
        }
        else
        {
            var v0 = Vector256.Create(x0);
            var v1 = Vector256.Create(x1);
            var v2 = Vector256.Create(x2);
            var v3 = Vector256.Create(x3);
            for (; j + Vector256<T>.Count <= width; j += Vector256<T>.Count)
            {
                var s = Fma(v0, Vector256.Load(r0 + j), Vector256.Load(acc + j));
                s = Fma(v1, Vector256.Load(r1 + j), s);
                s = Fma(v2, Vector256.Load(r2 + j), s);
                Vector256.Store(Fma(v3, Vector256.Load(r3 + j), s), acc + j);
            }
        }
        for (; j < width; j++)
            acc[j] = MulAdd(x3, r3[j], MulAdd(x2, r2[j], MulAdd(x1, r1[j], MulAdd(x0, r0[j], acc[j]))));
    }

    /// <summary>
    /// Transposed B (columns contiguous over p), contiguous x: y[j] = x·B[:, j], eight columns at a time (then four,
    /// then one).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemvByColumns<T>(in GemvArgs<T> g, int j0, int j1) where T : unmanaged
    {
        int j = j0;
        for (; j + 8 <= j1; j += 8)
        {
            Dot8(g.X, g.B + j * g.CsB, g.CsB, g.K, out var y);
            for (int r = 0; r < 8; r++) g.Y[(j + r) * g.Ys] = y[r];
        }
        if (j + 4 <= j1)
        {
            T* c0 = g.B + j * g.CsB;
            Dot4(g.X, c0, c0 + g.CsB, c0 + 2 * g.CsB, c0 + 3 * g.CsB, g.K, out var y0, out var y1, out var y2, out var y3);
            g.Y[j * g.Ys] = y0;
            g.Y[(j + 1) * g.Ys] = y1;
            g.Y[(j + 2) * g.Ys] = y2;
            g.Y[(j + 3) * g.Ys] = y3;
            j += 4;
        }
        for (; j < j1; j++)
        {
            T* col = g.B + j * g.CsB;
            T sum = default;
            for (int p = 0; p < g.K; p++) sum = MulAdd(g.X[p], col[p], sum);
            g.Y[j * g.Ys] = sum;
        }
    }

    /// <summary>The eight results of <see cref="Dot8{T}"/>.</summary>
    [InlineArray(8)]
    private struct Eight<T>
    {
        private T _element;
    }

    /// <summary>
    /// Eight dot products of x[0..k) with the columns c, c + cs, …, c + 7·cs (eight independent FMA chains), asking
    /// for the same offsets of the next eight columns as it goes. A thread's columns are one contiguous range, so
    /// this keeps eight streams in flight and the next block's lines arriving while this block is summed. With four
    /// columns at a time prefetched 4 KB ahead within each column (which ran into the start of the next column,
    /// already loaded, and left the next block's start cold) the weights of the 125m model streamed at about
    /// 40 GB/s on two cores of the reference machine; this way at about 50 GB/s (read-only bandwidth there: about
    /// 58 GB/s). Prefetching past the end of the matrix is harmless.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot8<T>(T* x, T* c, long cs, int k, out Eight<T> y) where T : unmanaged
    {
        int p = 0;
        y = default;
        T* next = c + 8 * cs;
        if (Vector512.IsHardwareAccelerated)
        {
            var a0 = Vector512<T>.Zero;
            var a1 = Vector512<T>.Zero;
            var a2 = Vector512<T>.Zero;
            var a3 = Vector512<T>.Zero;
            var a4 = Vector512<T>.Zero;
            var a5 = Vector512<T>.Zero;
            var a6 = Vector512<T>.Zero;
            var a7 = Vector512<T>.Zero;
            for (; p + Vector512<T>.Count <= k; p += Vector512<T>.Count)
            {
                if (Sse.IsSupported)
                    for (int r = 0; r < 8; r++) Sse.Prefetch0(next + r * cs + p);
                var xv = Vector512.Load(x + p);
                a0 = Fma(xv, Vector512.Load(c + p), a0);
                a1 = Fma(xv, Vector512.Load(c + cs + p), a1);
                a2 = Fma(xv, Vector512.Load(c + 2 * cs + p), a2);
                a3 = Fma(xv, Vector512.Load(c + 3 * cs + p), a3);
                a4 = Fma(xv, Vector512.Load(c + 4 * cs + p), a4);
                a5 = Fma(xv, Vector512.Load(c + 5 * cs + p), a5);
                a6 = Fma(xv, Vector512.Load(c + 6 * cs + p), a6);
                a7 = Fma(xv, Vector512.Load(c + 7 * cs + p), a7);
            }
            (y[0], y[1], y[2], y[3]) = (Vector512.Sum(a0), Vector512.Sum(a1), Vector512.Sum(a2), Vector512.Sum(a3));
            (y[4], y[5], y[6], y[7]) = (Vector512.Sum(a4), Vector512.Sum(a5), Vector512.Sum(a6), Vector512.Sum(a7));
        }
        else
        {
            var a0 = Vector256<T>.Zero;
            var a1 = Vector256<T>.Zero;
            var a2 = Vector256<T>.Zero;
            var a3 = Vector256<T>.Zero;
            var a4 = Vector256<T>.Zero;
            var a5 = Vector256<T>.Zero;
            var a6 = Vector256<T>.Zero;
            var a7 = Vector256<T>.Zero;
            for (; p + Vector256<T>.Count <= k; p += Vector256<T>.Count)
            {
                var xv = Vector256.Load(x + p);
                a0 = Fma(xv, Vector256.Load(c + p), a0);
                a1 = Fma(xv, Vector256.Load(c + cs + p), a1);
                a2 = Fma(xv, Vector256.Load(c + 2 * cs + p), a2);
                a3 = Fma(xv, Vector256.Load(c + 3 * cs + p), a3);
                a4 = Fma(xv, Vector256.Load(c + 4 * cs + p), a4);
                a5 = Fma(xv, Vector256.Load(c + 5 * cs + p), a5);
                a6 = Fma(xv, Vector256.Load(c + 6 * cs + p), a6);
                a7 = Fma(xv, Vector256.Load(c + 7 * cs + p), a7);
            }
            (y[0], y[1], y[2], y[3]) = (Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3));
            (y[4], y[5], y[6], y[7]) = (Vector256.Sum(a4), Vector256.Sum(a5), Vector256.Sum(a6), Vector256.Sum(a7));
        }
        for (; p < k; p++)
        {
            T xp = x[p];
            for (int r = 0; r < 8; r++) y[r] = MulAdd(xp, c[r * cs + p], y[r]);
        }
    }

    /// <summary>Four dot products of x[0..k) with four columns, four independent FMA chains (the remainder of <see cref="Dot8{T}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4<T>(T* x, T* c0, T* c1, T* c2, T* c3, int k, out T y0, out T y1, out T y2, out T y3)
        where T : unmanaged
    {
        int p = 0;
        T s0 = default, s1 = default, s2 = default, s3 = default;
        if (Vector512.IsHardwareAccelerated)
        {
            var a0 = Vector512<T>.Zero;
            var a1 = Vector512<T>.Zero;
            var a2 = Vector512<T>.Zero;
            var a3 = Vector512<T>.Zero;
            for (; p + Vector512<T>.Count <= k; p += Vector512<T>.Count)
            {
                var xv = Vector512.Load(x + p);
                a0 = Fma(xv, Vector512.Load(c0 + p), a0);
                a1 = Fma(xv, Vector512.Load(c1 + p), a1);
                a2 = Fma(xv, Vector512.Load(c2 + p), a2);
                a3 = Fma(xv, Vector512.Load(c3 + p), a3);
            }
            (s0, s1, s2, s3) = (Vector512.Sum(a0), Vector512.Sum(a1), Vector512.Sum(a2), Vector512.Sum(a3));
        }
        else
        {
            var a0 = Vector256<T>.Zero;
            var a1 = Vector256<T>.Zero;
            var a2 = Vector256<T>.Zero;
            var a3 = Vector256<T>.Zero;
            for (; p + Vector256<T>.Count <= k; p += Vector256<T>.Count)
            {
                var xv = Vector256.Load(x + p);
                a0 = Fma(xv, Vector256.Load(c0 + p), a0);
                a1 = Fma(xv, Vector256.Load(c1 + p), a1);
                a2 = Fma(xv, Vector256.Load(c2 + p), a2);
                a3 = Fma(xv, Vector256.Load(c3 + p), a3);
            }
            (s0, s1, s2, s3) = (Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3));
        }
        for (; p < k; p++)
        {
            s0 = MulAdd(x[p], c0[p], s0);
            s1 = MulAdd(x[p], c1[p], s1);
            s2 = MulAdd(x[p], c2[p], s2);
            s3 = MulAdd(x[p], c3[p], s3);
        }
        (y0, y1, y2, y3) = (s0, s1, s2, s3);
    }
}
