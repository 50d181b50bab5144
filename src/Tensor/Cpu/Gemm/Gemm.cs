using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Ttt.Cpu;

/// <summary>
/// General matrix multiply on the CPU: C = A·B for a batch of matrices, A and B with arbitrary element strides
/// (so transposed operands are plain views), C row-major. This is the entry point every CPU matmul goes through.
/// </summary>
/// <remarks>
/// <para>
/// The design is BLIS/GotoBLAS. For an m × k by k × n product, five loops around a register-tiled micro-kernel:
/// </para>
/// <code>
/// for jc in 0..n step NC            B block  KC × NC  packed once, shared by all threads     (L3)
///   for pc in 0..k step KC
///     pack B[pc.., jc..] into NR-wide micro-panels (threads split the panels)
///     for ic in 0..m step MC        A block  MC × KC  packed per thread                     (L2)
///       pack A[ic.., pc..] into MR-high micro-panels
///       for jr in 0..NC step NR     B micro-panel KC × NR, reused by every ir step
///         for ir in 0..MC step MR   micro-kernel: C[MR, NR] += A_panel[MR, KC]·B_panel[KC, NR]  (registers)
/// </code>
/// <para>
/// Blocking for Zen 5 (48 KB L1D, 1 MB L2 per core, 32 MB shared L3), AVX-512, float:
/// MR × NR = 14 × 32, 28 zmm accumulators (see <see cref="Kernel512{T, TRows}"/>).
/// KC = 512: the textbook choice keeps the KC × NR B micro-panel in L1 (KC = 256 → 32 KB), but measured here
/// KC = 384–768 beat 256 by 3–8 %: Zen 5's L2 feeds the 128 B of B and 56 B of A that one k step needs
/// (14 cycles of FMAs) easily, while a deeper K-block halves the C-tile loads and stores per multiply-add and the
/// number of packing passes. K is cut into even blocks (k = 768 → 2 × 384).
/// MC = 252 rows (18 tiles): the A block is 252 × 512 × 4 B = 504 KB, half of L2, which leaves room for the B
/// micro-panel (64 KB) and the C tiles streaming past; a thread's rows are cut into even blocks of at most MC.
/// NC = 2048: the shared packed B block is at most 512 × 2048 × 4 B = 4 MB, well inside L3.
/// double keeps the byte sizes (MR × NR = 14 × 16, MC = 126, NC = 1024). Without AVX-512 the tile is 6 × 2
/// Vector256 (16 ymm registers), same KC/MC/NC rules.
/// </para>
/// <para>
/// Threads split the rows of C (each packs its own A blocks and reads the shared packed B) or, when C has too few
/// rows, the micro-panels of B; each phase is cut into <see cref="ChunksPerThread"/> claimable chunks per thread.
/// Batches of products (16 × 64 × 64 heads of a TTT mini-batch) run whole items per thread with no synchronisation.
/// Thin shapes skip packing: m = 1 or n = 1 is a matrix-vector product over B (or A) in place (decode: 1 × 768 ×
/// 768); up to 2·MR rows a row-major B is read in place, each of its panels being used only once or twice; and
/// a small A (≤ 2·MR rows, ≤ 4 B panels) is read in place by <see cref="KernelDirect512{T, TRows}"/>, because
/// packing a 16 × 64 block costs about as much as multiplying it by 64 × 64.
/// </para>
/// <para>
/// The kernels, packing and GEMV loops are compiled fully optimised on first use
/// (<see cref="MethodImplOptions.AggressiveOptimization"/>): the first matmuls of a run would otherwise pack
/// through unoptimised tier-0 code, several times slower.
/// </para>
/// </remarks>
public static unsafe partial class Gemm
{
    /// <summary>KC: greatest depth of a K-block (see the class remarks).</summary>
    internal const int Kc = 512;

    /// <summary>MC: most rows of a packed A block, a multiple of MR, ≤ 512 KB of A (252 floats, 126 doubles).</summary>
    internal static int Mc<T>() where T : unmanaged => 512 * 1024 / (Kc * sizeof(T)) / Mr * Mr;

    /// <summary>NC: most columns of a packed B block, a multiple of NR, ≤ 4 MB of B.</summary>
    internal static int Nc<T>() where T : unmanaged => 2048 * sizeof(float) / sizeof(T);

    /// <summary>
    /// Multiply-adds one thread must get before a second thread is worth using: a region costs about a
    /// microsecond when the workers are awake and a few more when they are not, while 2^18 multiply-adds take
    /// about 2.5 µs at this kernel's speed. (OpenBLAS's threshold is the same: one thread below m·n·k = 2^18.)
    /// </summary>
    internal const long MinWorkPerThread = 1L << 18;

    /// <summary>
    /// Parallel phases are cut into this many chunks per thread, claimed as threads get free: on a machine shared
    /// with other work a thread that loses its core for a while then holds up a quarter of its share, not all of it.
    /// </summary>
    internal const int ChunksPerThread = 4;

    /// <summary>Up to this many rows of C, a row-major B is read in place instead of packed (see remarks).</summary>
    internal static int InPlaceBMaxRows => 2 * Mr;

    /// <summary>
    /// For every batch item i: C_i[m, n] = Σ_k A_i[m, k]·B_i[k, n], overwriting C_i.
    /// A_i element (m, k) is at a + aOffsets[i] + m·rsA + k·csA; B_i (k, n) at b + bOffsets[i] + k·rsB + n·csB;
    /// C_i (m, n) at c + cOffsets[i] + m·ldc + n. T is float or double. Uses up to <see cref="CpuParallel.Threads"/>.
    /// Offsets of A and B may repeat (broadcast batch dims); the C_i must overlap neither each other nor A or B.
    /// </summary>
    public static void Batched<T>(int m, int n, int k,
        T* a, ReadOnlySpan<long> aOffsets, long rsA, long csA,
        T* b, ReadOnlySpan<long> bOffsets, long rsB, long csB,
        T* c, ReadOnlySpan<long> cOffsets, long ldc) where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"Gemm supports float and double, not {typeof(T).Name}");
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        int batch = cOffsets.Length;
        if (aOffsets.Length != batch || bOffsets.Length != batch)
            throw new ArgumentException($"one offset per batch item is needed: A has {aOffsets.Length}, B {bOffsets.Length}, C {batch}");
        if (batch == 0 || m == 0 || n == 0) return;
        if (k == 0)
        {
            for (int i = 0; i < batch; i++)
                for (int r = 0; r < m; r++) new Span<T>(c + cOffsets[i] + r * ldc, n).Clear();
            return;
        }

        var job = Job<T>.ForThisThread();
        job.Start(m, n, k, a, aOffsets, rsA, csA, b, bOffsets, rsB, csB, c, cOffsets, ldc);
        try
        {
            long itemWork = (long)m * n * k;
            double totalWork = (double)itemWork * batch;
            int threads = CpuParallel.ChunkCount((long)Math.Min(totalWork / MinWorkPerThread, int.MaxValue), 1);

            if (threads > 1 && batch > 1 && (batch % threads == 0 || batch >= 4 * threads || itemWork < threads * MinWorkPerThread))
            {
                // Whole items per thread: no synchronisation inside an item, no packing shared between threads.
                CpuParallel.ForChunks(batch, ChunksPerThread * threads, threads, job, static (j, start, end) =>
                {
                    for (long i = start; i < end; i++) j.Item((int)i).Multiply(threads: 1, j);
                });
            }
            else
            {
                // Few large items (e.g. 3 × 2048²): one at a time, each split over the threads.
                int itemThreads = CpuParallel.ChunkCount(itemWork / MinWorkPerThread, 1);
                for (int i = 0; i < batch; i++) job.Item(i).Multiply(itemThreads, job);
            }
        }
        finally
        {
            job.Finish();
        }
    }

    /// <summary>One product C = A·B: m × k by k × n, strides as in <see cref="Batched{T}"/>.</summary>
    private readonly struct Product<T> where T : unmanaged
    {
        public readonly int M, N, K;
        public readonly T* A, B, C;
        public readonly long RsA, CsA, RsB, CsB, Ldc;

        public Product(int m, int n, int k, T* a, long rsA, long csA, T* b, long rsB, long csB, T* c, long ldc)
        {
            (M, N, K, RsA, CsA, RsB, CsB, Ldc) = (m, n, k, rsA, csA, rsB, csB, ldc);
            A = a;
            B = b;
            C = c;
        }

        /// <summary>Computes this product with up to <paramref name="threads"/> threads (1: on this thread only).</summary>
        public void Multiply(int threads, Job<T> job)
        {
            if (M == 1)
                Gemv(new GemvArgs<T>(N, K, A, CsA, B, RsB, CsB, C, 1), threads, job);
            else if (N == 1)
                // C[m, 1] = A·b is the row vector bᵀ·Aᵀ: x = b (stride rsB), matrix Aᵀ (p, i) at i·rsA + p·csA.
                Gemv(new GemvArgs<T>(M, K, B, RsB, A, CsA, RsA, C, Ldc), threads, job);
            else
                Blocked(this, threads, job);
        }
    }

    /// <summary>
    /// The state of one <see cref="Batched{T}"/> call, kept per calling thread and reused, so a call allocates
    /// nothing once the offset arrays have grown to the batch size. Parallel bodies receive it as their state.
    /// </summary>
    private sealed class Job<T> where T : unmanaged
    {
        [ThreadStatic] private static Job<T>? t_job;

        public static Job<T> ForThisThread() => t_job ??= new Job<T>();

        private int _m, _n, _k;
        private T* _a, _b, _c;
        private long _rsA, _csA, _rsB, _csB, _ldc;
        private long[] _aOffsets = [], _bOffsets = [], _cOffsets = [];

        // The product and K-block that a parallel phase of Blocked (or Gemv) is working on.
        public Product<T> Current;
        public BlockStep<T> Step;
        public GemvArgs<T> Vector;
        public GemvSplit Split;

        public void Start(int m, int n, int k,
            T* a, ReadOnlySpan<long> aOffsets, long rsA, long csA,
            T* b, ReadOnlySpan<long> bOffsets, long rsB, long csB,
            T* c, ReadOnlySpan<long> cOffsets, long ldc)
        {
            (_m, _n, _k, _rsA, _csA, _rsB, _csB, _ldc) = (m, n, k, rsA, csA, rsB, csB, ldc);
            _a = a;
            _b = b;
            _c = c;
            Copy(aOffsets, ref _aOffsets);
            Copy(bOffsets, ref _bOffsets);
            Copy(cOffsets, ref _cOffsets);
        }

        /// <summary>Drops the pointers so a finished call leaves nothing dangling.</summary>
        public void Finish()
        {
            _a = _b = _c = null;
            Current = default;
            Step = default;
            Vector = default;
        }

        public Product<T> Item(int i) =>
            new(_m, _n, _k, _a + _aOffsets[i], _rsA, _csA, _b + _bOffsets[i], _rsB, _csB, _c + _cOffsets[i], _ldc);

        private static void Copy(ReadOnlySpan<long> source, ref long[] target)
        {
            if (target.Length < source.Length) target = new long[Math.Max(source.Length, 2 * target.Length)];
            source.CopyTo(target);
        }
    }

    /// <summary>The K-block (and N-block) of a blocked product that its parallel phases are working on.</summary>
    private struct BlockStep<T> where T : unmanaged
    {
        public int Jc, Nc, Pc, Kc, Panels;
        public bool Accumulate;

        /// <summary>A is read in place by the small-product kernel instead of being packed.</summary>
        public bool DirectA;

        /// <summary>The packed kc × nc block of B, or null when B is read in place.</summary>
        public T* PackedB;
    }

    /// <summary>The blocked, packed product (see the class remarks) with up to <paramref name="threads"/> threads.</summary>
    private static void Blocked<T>(in Product<T> pr, int threads, Job<T> job) where T : unmanaged
    {
        int mr = Mr, nr = Nr<T>(), ncMax = Nc<T>();
        bool inPlaceB = pr.CsB == 1 && pr.M <= InPlaceBMaxRows;
        // A small A (few rows, used by few B panels) costs more to pack than to read in place.
        bool directA = Vector512.IsHardwareAccelerated && pr.M <= InPlaceBMaxRows && pr.N <= 4 * nr && (pr.CsA == 1 || pr.RsA == 1);
        int rowTiles = (pr.M + mr - 1) / mr;
        for (int jc = 0; jc < pr.N; jc += ncMax)
        {
            int nc = Math.Min(ncMax, pr.N - jc);
            int panels = (nc + nr - 1) / nr;
            // K is cut into even blocks of at most KC (k = 768: two of 384, not 512 + 256), so that no block is
            // so shallow that the C-tile update dominates it.
            int kBlocks = TileCount(pr.K, Kc);
            for (int kb = 0; kb < kBlocks; kb++)
            {
                int pc = TileStart(kb, pr.K, kBlocks);
                var step = new BlockStep<T>
                {
                    Jc = jc, Nc = nc, Pc = pc, Kc = TileStart(kb + 1, pr.K, kBlocks) - pc, Panels = panels,
                    Accumulate = pc > 0, DirectA = directA,
                };
                if (threads == 1)
                {
                    if (!inPlaceB)
                    {
                        step.PackedB = Scratch<T>.PackedB((long)Math.Min(ncMax, pr.N + nr) * Kc);
                        PackB(step.Kc, nc, pr.B + pc * pr.RsB + jc * pr.CsB, pr.RsB, pr.CsB, 0, panels, step.PackedB);
                    }
                    ComputeRows(pr, step, 0, rowTiles);
                    continue;
                }

                job.Current = pr;
                if (!inPlaceB)
                {
                    step.PackedB = Scratch<T>.PackedB((long)Math.Min(ncMax, pr.N + nr) * Kc);
                    job.Step = step;
                    CpuParallel.ForChunks(panels, ChunksPerThread * threads, threads, job, static (j, q0, q1) =>
                    {
                        ref readonly var s = ref j.Step;
                        ref readonly var p = ref j.Current;
                        PackB(s.Kc, s.Nc, p.B + s.Pc * p.RsB + s.Jc * p.CsB, p.RsB, p.CsB, (int)q0, (int)q1, s.PackedB);
                    });
                }
                job.Step = step;
                if (rowTiles >= 2 * threads)
                    CpuParallel.ForChunks(rowTiles, ChunksPerThread * threads, threads, job, static (j, t0, t1) => ComputeRows(j.Current, j.Step, (int)t0, (int)t1));
                else
                    CpuParallel.ForChunks(panels, ChunksPerThread * threads, threads, job, static (j, q0, q1) => ComputePanels(j.Current, j.Step, (int)q0, (int)q1));
            }
        }
    }

    /// <summary>
    /// Rows [t0·MR, t1·MR) ∩ [0, m) of C for one K-block, all of its N-block: packs this thread's A blocks
    /// (MC × KC each) and runs the macro-kernel over every B micro-panel.
    /// </summary>
    private static void ComputeRows<T>(in Product<T> pr, in BlockStep<T> s, int t0, int t1) where T : unmanaged
    {
        int mr = Mr, mcMax = Mc<T>();
        T* packedA = s.DirectA ? null : Scratch<T>.PackedA((long)mcMax * Kc);
        // Even blocks of at most MC rows (whole tiles), not MC, MC, …, remainder: 73 tiles are 5 blocks of 14–15.
        int tiles = t1 - t0, blocks = TileCount(tiles, mcMax / mr);
        for (int b = 0; b < blocks; b++)
        {
            int i0 = (t0 + TileStart(b, tiles, blocks)) * mr;
            int i1 = Math.Min((t0 + TileStart(b + 1, tiles, blocks)) * mr, pr.M);
            BlockOfRows(pr, s, i0, i1 - i0, packedA, 0, s.Panels);
        }
    }

    /// <summary>B micro-panels [q0, q1) of C's N-block for one K-block, all rows (for products with few rows).</summary>
    private static void ComputePanels<T>(in Product<T> pr, in BlockStep<T> s, int q0, int q1) where T : unmanaged
    {
        int mcMax = Mc<T>();
        T* packedA = s.DirectA ? null : Scratch<T>.PackedA((long)mcMax * Kc);
        int blocks = TileCount(pr.M, mcMax);
        for (int b = 0; b < blocks; b++)
        {
            int i0 = TileStart(b, pr.M, blocks);
            BlockOfRows(pr, s, i0, TileStart(b + 1, pr.M, blocks) - i0, packedA, q0, q1);
        }
    }

    /// <summary>
    /// C[i0 .. i0 + mc, panels q0..q1 of the N-block] (+)= A[i0 .., K-block]·B[K-block, N-block]: packs the A block
    /// into <paramref name="packedA"/> (or, for a small product, reads A in place) and runs the macro-kernel.
    /// The B micro-panel is the outer loop so it stays in L1 while the A micro-panels stream from L2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BlockOfRows<T>(in Product<T> pr, in BlockStep<T> s, int i0, int mc, T* packedA, int q0, int q1)
        where T : unmanaged
    {
        int nr = Nr<T>(), kc = s.Kc;
        T* a = pr.A + i0 * pr.RsA + s.Pc * pr.CsA;
        long aRowStride = pr.RsA, aKStride = pr.CsA, aPanelStride = 0;
        int maxRows = MrDirect;
        if (!s.DirectA)
        {
            PackA(mc, kc, a, pr.RsA, pr.CsA, packedA);
            a = packedA;
            (aRowStride, aKStride, maxRows) = (1, Mr, Mr);
            aPanelStride = (long)Mr * kc;
        }
        int tiles = TileCount(mc, maxRows);
        T* c = pr.C + i0 * pr.Ldc + s.Jc;
        for (int q = q0; q < q1; q++)
        {
            int j = q * nr;
            int cols = Math.Min(nr, s.Nc - j);
            T* panel;
            long bStride;
            if (s.PackedB != null)
            {
                panel = s.PackedB + (long)q * nr * kc;
                bStride = nr;
            }
            else if (cols == nr)
            {
                // Read B in place: the panel is kc rows of NR contiguous values, rsB apart.
                panel = pr.B + s.Pc * pr.RsB + (s.Jc + j);
                bStride = pr.RsB;
            }
            else
            {
                // The ragged last panel is packed (zero-padded) so the kernel never reads past B's last column.
                panel = Scratch<T>.EdgePanel((long)Kc * nr);
                PackBPanel(kc, cols, pr.B + s.Pc * pr.RsB + (s.Jc + j) * pr.CsB, pr.RsB, pr.CsB, panel);
                bStride = nr;
            }
            for (int t = 0; t < tiles; t++)
            {
                int r0 = TileStart(t, mc, tiles);
                int rows = TileStart(t + 1, mc, tiles) - r0;
                T* at = s.DirectA ? a + r0 * aRowStride : a + t * aPanelStride;
                if (cols == nr)
                    Tile(rows, kc, at, aRowStride, aKStride, panel, bStride, c + r0 * pr.Ldc + j, pr.Ldc, s.Accumulate);
                else
                    EdgeTile(rows, cols, kc, at, aRowStride, aKStride, panel, bStride, c + r0 * pr.Ldc + j, pr.Ldc, s.Accumulate);
            }
        }
    }
}
