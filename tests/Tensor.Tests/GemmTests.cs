using FsCheck;
using FsCheck.Fluent;
using Ttt.Cpu;
using Xunit;

namespace Ttt.Tests;

/// <summary>
/// The tests here set the process-wide <see cref="CpuParallel.Threads"/>, so they run alone, never beside another
/// test class.
/// </summary>
[CollectionDefinition(nameof(CpuThreadsCollection), DisableParallelization = true)]
public sealed class CpuThreadsCollection;

/// <summary>
/// <see cref="Gemm.Batched{T}"/> against a plain triple loop in double precision, over odd sizes (around the 14 × 32
/// micro-tile, the 512-deep K-block, the MC and NC blocks), every operand layout (row-major, transposed, padded rows
/// with a non-unit element stride), batches with repeated (broadcast) offsets, float32 and float64, 1 and 2 threads;
/// and through the public op <see cref="Tensor.Matmul(Tensor, Tensor)"/> with <c>.MT</c> views.
/// </summary>
/// <remarks>
/// Tolerance, one formula for every element: |c − ref| ≤ atol + rtol·|ref| with atol = k·ε and rtol = 4ε, where ε is
/// the machine epsilon of T (2⁻²³ float32, 2⁻⁵² float64) and the inputs are uniform in [−1, 1]. Reason: the kernel
/// sums k products with FMAs in a different order from the reference (blocked over K, split into vector lanes); the
/// classic bound on that rounding error is about k·(ε/2)·Σ_p|a_ip·b_pj| ≤ k·ε/2 for these inputs, so atol = k·ε holds
/// with a factor-2 margin in the worst case (typical errors are near √k·ε), while a lost, doubled or misplaced
/// product term (of typical size 1/4) is orders of magnitude larger. rtol covers the final rounding of the result to T.
/// On an AVX-512 machine these run the AVX-512 kernels; <c>DOTNET_PreferredVectorBitWidth=256</c> makes the same
/// tests run the AVX2 (Vector256) kernels.
/// </remarks>
[Collection(nameof(CpuThreadsCollection))]
public sealed unsafe class GemmTests
{
    /// <summary>How an operand's matrix is laid out in its buffer.</summary>
    public enum Layout
    {
        /// <summary>Row-major, rows contiguous: (rs, cs) = (cols, 1).</summary>
        RowMajor,

        /// <summary>Column-major, i.e. the transpose of a row-major matrix (a <c>.MT</c> view): (rs, cs) = (1, rows).</summary>
        Transposed,

        /// <summary>Padded rows and every other element: (rs, cs) = (2·cols + 3, 2).</summary>
        Strided,
    }

    /// <summary>A batch of rows × cols matrices in one buffer: item i's (r, c) is Data[Offsets[i] + r·Rs + c·Cs].</summary>
    private sealed class Operand<T>(T[] data, long rs, long cs, long[] offsets) where T : unmanaged
    {
        public T[] Data { get; } = data;
        public long Rs { get; } = rs;
        public long Cs { get; } = cs;
        public long[] Offsets { get; } = offsets;

        public double At(int item, int r, int c) => ToDouble(Data[Offsets[item] + r * Rs + c * Cs]);
    }

    /// <summary>
    /// <paramref name="distinct"/> different matrices, used by <paramref name="batch"/> items: item i uses matrix
    /// i mod distinct, so distinct &lt; batch repeats offsets the way a broadcast batch dim does. Unused buffer slots
    /// (padding) hold NaN, so reading one shows up in the result.
    /// </summary>
    private static Operand<T> MakeOperand<T>(int rows, int cols, Layout layout, int batch, int distinct, Random rng)
        where T : unmanaged
    {
        (long rs, long cs, long span) = layout switch
        {
            Layout.RowMajor => ((long)cols, 1L, (long)rows * cols),
            Layout.Transposed => (1L, (long)rows, (long)rows * cols),
            _ => (2L * cols + 3, 2L, (2L * cols + 3) * rows),
        };
        var data = new T[span * distinct + 5];
        Array.Fill(data, FromDouble<T>(double.NaN));
        var offsets = new long[batch];
        for (int d = 0; d < distinct; d++)
        {
            long start = 2 + d * span;
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) data[start + r * rs + c * cs] = FromDouble<T>(rng.NextDouble() * 2 - 1);
        }
        for (int i = 0; i < batch; i++) offsets[i] = 2 + (i % distinct) * span;
        return new Operand<T>(data, rs, cs, offsets);
    }

    private static double ToDouble<T>(T v) where T : unmanaged => typeof(T) == typeof(float) ? (float)(object)v : (double)(object)v;

    private static T FromDouble<T>(double v) where T : unmanaged => typeof(T) == typeof(float) ? (T)(object)(float)v : (T)(object)v;

    private static double Epsilon<T>() where T : unmanaged => typeof(T) == typeof(float) ? Math.Pow(2, -23) : Math.Pow(2, -52);

    /// <summary>
    /// Runs one batched product with <paramref name="threads"/> threads and checks every element of every C_i
    /// against the double-precision triple loop, and that C's padding was left alone.
    /// </summary>
    private static void Check<T>(int m, int n, int k, Layout layoutA, Layout layoutB, int threads, int seed,
        int batch = 1, int distinctA = 1, int distinctB = 1) where T : unmanaged
    {
        var rng = new Random(seed);
        var a = MakeOperand<T>(m, k, layoutA, batch, Math.Min(distinctA, batch), rng);
        var b = MakeOperand<T>(k, n, layoutB, batch, Math.Min(distinctB, batch), rng);
        long ldc = n + 3;
        var cData = new T[batch * ldc * m + 7];
        Array.Fill(cData, FromDouble<T>(12345));
        var cOffsets = Enumerable.Range(0, batch).Select(i => 3 + i * ldc * m).ToArray();

        int saved = CpuParallel.Threads;
        CpuParallel.Threads = threads;
        try
        {
            fixed (T* pa = a.Data, pb = b.Data, pc = cData)
                Gemm.Batched(m, n, k, pa, a.Offsets, a.Rs, a.Cs, pb, b.Offsets, b.Rs, b.Cs, pc, cOffsets, ldc);
        }
        finally
        {
            CpuParallel.Threads = saved;
        }

        double eps = Epsilon<T>(), atol = Math.Max(k, 1) * eps, rtol = 4 * eps;
        string what = $"{typeof(T).Name} m={m} n={n} k={k} A={layoutA} B={layoutB} threads={threads} batch={batch} seed={seed}";
        var written = new bool[cData.Length];
        double maxAbs = 0;
        for (int i = 0; i < batch; i++)
        {
            for (int r = 0; r < m; r++)
            {
                for (int j = 0; j < n; j++)
                {
                    double expected = 0;
                    for (int p = 0; p < k; p++) expected += a.At(i, r, p) * b.At(i, p, j);
                    long at = cOffsets[i] + r * ldc + j;
                    written[at] = true;
                    double actual = ToDouble(cData[at]), err = Math.Abs(actual - expected);
                    maxAbs = Math.Max(maxAbs, err);
                    if (!(err <= atol + rtol * Math.Abs(expected)))
                        Assert.Fail($"{what}: C[{i}][{r},{j}] = {actual:R}, expected {expected:R}, |diff| {err:E3} > {atol + rtol * Math.Abs(expected):E3}");
                }
            }
        }
        for (int at = 0; at < cData.Length; at++)
            if (!written[at] && ToDouble(cData[at]) != 12345) Assert.Fail($"{what}: C padding at {at} was overwritten");
    }

    private static readonly Layout[] AllLayouts = [Layout.RowMajor, Layout.Transposed, Layout.Strided];

    /// <summary>m, n, k chosen around the blocking: 1, below/at/above MR = 14, the in-place-A tile of 8, NR = 32 (16 for double), KC = 512.</summary>
    public static TheoryData<int, int, int> Shapes() => new()
    {
        { 1, 1, 1 }, { 1, 17, 3 }, { 3, 1, 65 }, { 1, 129, 300 }, { 129, 1, 63 },
        { 2, 2, 2 }, { 3, 5, 7 }, { 17, 63, 65 }, { 63, 65, 129 }, { 65, 129, 17 },
        { 14, 32, 256 }, { 15, 33, 257 }, { 13, 31, 255 }, { 16, 64, 64 }, { 16, 64, 16 },
        { 28, 16, 1 }, { 29, 96, 513 }, { 129, 3, 300 }, { 140, 70, 20 }, { 8, 128, 40 }, { 9, 129, 511 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Matches_reference_for_every_layout_dtype_and_thread_count(int m, int n, int k)
    {
        int seed = m * 1_000_003 + n * 1009 + k;
        foreach (var la in AllLayouts)
        {
            foreach (var lb in AllLayouts)
            {
                foreach (int threads in (int[])[1, 2])
                {
                    Check<float>(m, n, k, la, lb, threads, seed);
                    Check<double>(m, n, k, la, lb, threads, seed);
                }
            }
        }
    }

    /// <summary>
    /// Sizes that cross the MC (252 float / 126 double rows), KC (512) and NC (2048 / 1024 columns) blocks, and
    /// that are big enough (m·n·k ≥ 2·2^18) for 2 threads to split one product: by rows, by B panels (few rows),
    /// and the matrix-vector paths.
    /// </summary>
    [Theory]
    [InlineData(400, 40, 30)]
    [InlineData(9, 4200, 5)]
    [InlineData(20, 2100, 3)]
    [InlineData(300, 200, 150)]
    [InlineData(20, 300, 100)]
    [InlineData(9, 700, 100)]
    [InlineData(1, 1100, 500)]
    [InlineData(700, 1, 800)]
    [InlineData(60, 50, 1100)]
    public void Matches_reference_across_cache_blocks(int m, int n, int k)
    {
        foreach (int threads in (int[])[1, 2])
        {
            foreach (var (la, lb) in ((Layout, Layout)[])[(Layout.RowMajor, Layout.RowMajor), (Layout.Transposed, Layout.Transposed), (Layout.Strided, Layout.RowMajor)])
            {
                Check<float>(m, n, k, la, lb, threads, seed: m + n + k);
                Check<double>(m, n, k, la, lb, threads, seed: m + n + k + 1);
            }
        }
    }

    /// <summary>
    /// Batches: many small items (split over threads), few large items (each split inside), repeated A or B offsets
    /// (a broadcast batch dim), and the matrix-vector shapes of decoding.
    /// </summary>
    [Theory]
    [InlineData(16, 64, 64, 12, 3, 12)]
    [InlineData(16, 64, 16, 7, 7, 1)]
    [InlineData(200, 100, 100, 3, 1, 3)]
    [InlineData(1, 96, 64, 10, 10, 2)]
    [InlineData(33, 1, 40, 5, 1, 5)]
    [InlineData(5, 70, 9, 4, 2, 2)]
    public void Matches_reference_for_batches_with_repeated_offsets(int m, int n, int k, int batch, int distinctA, int distinctB)
    {
        foreach (int threads in (int[])[1, 2])
        {
            foreach (var lb in AllLayouts)
            {
                Check<float>(m, n, k, Layout.RowMajor, lb, threads, seed: batch * 31 + m, batch, distinctA, distinctB);
                Check<double>(m, n, k, Layout.Transposed, lb, threads, seed: batch * 37 + n, batch, distinctA, distinctB);
            }
        }
    }

    /// <summary>FsCheck: random sizes in [1, 80], layouts, batch sizes, repeats and thread counts.</summary>
    [FsCheck.Xunit.Property(MaxTest = 60)]
    public Property Matches_reference_on_random_shapes()
    {
        var gen =
            from m in Gen.Choose(1, 80)
            from n in Gen.Choose(1, 80)
            from k in Gen.Choose(1, 80)
            from la in Gen.Elements(AllLayouts)
            from lb in Gen.Elements(AllLayouts)
            from batch in Gen.Choose(1, 4)
            from distinctA in Gen.Choose(1, batch)
            from distinctB in Gen.Choose(1, batch)
            from threads in Gen.Choose(1, 2)
            from isDouble in Gen.Elements(false, true)
            from seed in Gen.Choose(0, int.MaxValue)
            select (m, n, k, la, lb, batch, distinctA, distinctB, threads, isDouble, seed);
        return Prop.ForAll(gen.ToArbitrary(), t =>
        {
            if (t.isDouble) Check<double>(t.m, t.n, t.k, t.la, t.lb, t.threads, t.seed, t.batch, t.distinctA, t.distinctB);
            else Check<float>(t.m, t.n, t.k, t.la, t.lb, t.threads, t.seed, t.batch, t.distinctA, t.distinctB);
        });
    }

    /// <summary>
    /// Once its buffers have grown, a call allocates nothing: packing buffers, offsets and the parallel job are
    /// reused (every path: blocked, batched small items, in-place A, GEMV; 1 and 2 threads). Measured on the calling
    /// thread, whose buffers the 1-thread runs grow first: a worker grows its own once, the first time it happens to
    /// claim a chunk, which can be any call. The best of three windows of five calls counts: in one full-suite run a
    /// single window saw 7.7 KB that the next runs did not (the runtime's own bookkeeping, e.g. a method being
    /// promoted to optimized code on this thread); an allocation of ours would show in every window.
    /// </summary>
    [Fact]
    public void Steady_state_calls_allocate_nothing()
    {
        float[] a = new float[3 * 300 * 300], b = new float[a.Length], c = new float[a.Length];
        Array.Fill(a, 0.5f);
        Array.Fill(b, 0.25f);
        long[] one = [0], batch = [0, 90_000, 180_000];
        (int M, int N, int K)[] shapes = [(300, 300, 300), (16, 64, 64), (1, 300, 300), (300, 1, 300), (20, 40, 300)];
        int saved = CpuParallel.Threads;
        try
        {
            fixed (float* pa = a, pb = b, pc = c)
            {
                foreach (int threads in (int[])[1, 2])
                {
                    CpuParallel.Threads = threads;
                    foreach (var (m, n, k, offsets) in shapes.SelectMany(s => new[] { (s.M, s.N, s.K, one), (s.M, s.N, s.K, batch) }))
                    {
                        for (int i = 0; i < 3; i++) Gemm.Batched(m, n, k, pa, offsets, k, 1, pb, offsets, n, 1, pc, offsets, n);
                        long allocated = long.MaxValue;
                        for (int window = 0; window < 3 && allocated != 0; window++)
                        {
                            long before = GC.GetAllocatedBytesForCurrentThread();
                            for (int i = 0; i < 5; i++) Gemm.Batched(m, n, k, pa, offsets, k, 1, pb, offsets, n, 1, pc, offsets, n);
                            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
                        }
                        Assert.True(allocated == 0, $"m={m} n={n} k={k} batch={offsets.Length} threads={threads}: {allocated} bytes allocated in each of three windows");
                    }
                }
            }
        }
        finally
        {
            CpuParallel.Threads = saved;
        }
    }

    [Fact]
    public void K_zero_gives_zeros_and_empty_sizes_do_nothing()
    {
        var c = Enumerable.Repeat(7f, 12).ToArray();
        var a = new float[1];
        fixed (float* pa = a, pc = c)
        {
            Gemm.Batched(3, 4, 0, pa, [0L], 1, 1, pa, [0L], 1, 1, pc, [0L], 4);
            Assert.All(c, v => Assert.Equal(0f, v));
            c[0] = 5;
            Gemm.Batched(0, 4, 3, pa, [0L], 1, 1, pa, [0L], 1, 1, pc, [0L], 4);
            Gemm.Batched(3, 0, 3, pa, [0L], 1, 1, pa, [0L], 1, 1, pc, [0L], 4);
            Gemm.Batched(3, 4, 3, pa, ReadOnlySpan<long>.Empty, 1, 1, pa, ReadOnlySpan<long>.Empty, 1, 1, pc, ReadOnlySpan<long>.Empty, 4);
            Assert.Equal(5f, c[0]);
        }
    }

    [Fact]
    public void Rejects_mismatched_offset_counts()
    {
        var x = new float[4];
        Assert.Throws<ArgumentException>(() =>
        {
            fixed (float* p = x) Gemm.Batched(1, 1, 1, p, [0L, 0L], 1, 1, p, [0L], 1, 1, p, [0L], 1);
        });
    }

    /// <summary>
    /// The public op on the fast CPU backend, with <c>.MT</c> views on either side and a broadcast batch dim,
    /// against the same product computed by the reference backend in float64.
    /// </summary>
    [Theory]
    [InlineData(DType.Float32, 1)]
    [InlineData(DType.Float32, 2)]
    [InlineData(DType.Float64, 2)]
    public void Tensor_matmul_with_transposed_views_matches_reference_backend(DType dtype, int threads)
    {
        var gen = new Generator(20240607);
        int saved = CpuParallel.Threads;
        CpuParallel.Threads = threads;
        try
        {
            foreach (var (m, n, k) in ((int, int, int)[])[(17, 33, 65), (64, 48, 300), (1, 70, 40), (30, 1, 20)])
            {
                var aT = Tensor.Rand([3, k, m], gen, dtype, -1, 1);   // aT.MT: [3, m, k], column-major items
                var a = Tensor.Rand([3, m, k], gen, dtype, -1, 1);
                var bT = Tensor.Rand([n, k], gen, dtype, -1, 1);      // bT.MT: [k, n], broadcast over the batch
                var b = Tensor.Rand([k, n], gen, dtype, -1, 1);
                foreach (var (x, y, name) in ((Tensor, Tensor, string)[])[(aT.MT, b, "Aᵀ·B"), (a, bT.MT, "A·Bᵀ"), (aT.MT, bT.MT, "Aᵀ·Bᵀ"), (a, b, "A·B")])
                {
                    using var noGrad = GradMode.Disable();
                    var actual = Tensor.Matmul(x, y).To(DType.Float64).ToArray<double>();
                    Tensor expectedTensor;
                    using (CpuBackends.UseReference()) expectedTensor = Tensor.Matmul(x.To(DType.Float64), y.To(DType.Float64));
                    Assert.Equal([3, m, n], expectedTensor.ShapeArray());
                    var expected = expectedTensor.ToArray<double>();
                    double eps = dtype == DType.Float32 ? Math.Pow(2, -23) : Math.Pow(2, -52);
                    for (int i = 0; i < expected.Length; i++)
                    {
                        double err = Math.Abs(actual[i] - expected[i]), bound = k * eps + 4 * eps * Math.Abs(expected[i]);
                        Assert.True(err <= bound, $"{dtype} {name} m={m} n={n} k={k} threads={threads}: element {i} = {actual[i]:R}, expected {expected[i]:R}, |diff| {err:E3} > {bound:E3}");
                    }
                }
            }
        }
        finally
        {
            CpuParallel.Threads = saved;
        }
    }
}

/// <summary>
/// The persistent pool behind <see cref="CpuParallel"/> (it replaced <c>Parallel.For</c> for the GEMM's
/// back-to-back regions): partitions, the thread bound, nesting, errors, and regions opened from several threads.
/// </summary>
[Collection(nameof(CpuThreadsCollection))]
public sealed class CpuParallelTests
{
    private static T WithThreads<T>(int threads, Func<T> run)
    {
        int saved = CpuParallel.Threads;
        CpuParallel.Threads = threads;
        try
        {
            return run();
        }
        finally
        {
            CpuParallel.Threads = saved;
        }
    }

    [Theory]
    [InlineData(1, 1000, 1)]
    [InlineData(2, 1000, 1)]
    [InlineData(2, 7, 3)]
    [InlineData(3, 10, 4)]
    [InlineData(8, 1000, 100)]
    [InlineData(2, 1, 1)]
    public void For_partitions_the_range_into_at_most_Threads_contiguous_chunks(int threads, long count, long minChunk)
    {
        var chunks = WithThreads(threads, () =>
        {
            var seen = new System.Collections.Concurrent.ConcurrentBag<(long Start, long End)>();
            CpuParallel.For(count, minChunk, (s, e) => seen.Add((s, e)));
            return seen.OrderBy(c => c.Start).ToArray();
        });
        Assert.InRange(chunks.Length, 1, threads);
        Assert.Equal(0, chunks[0].Start);
        Assert.Equal(count, chunks[^1].End);
        for (int i = 1; i < chunks.Length; i++) Assert.Equal(chunks[i - 1].End, chunks[i].Start);
        if (chunks.Length > 1) Assert.All(chunks, c => Assert.True(c.End - c.Start >= minChunk, $"chunk {c} is smaller than {minChunk}"));
    }

    [Fact]
    public void A_region_uses_at_most_Threads_threads_and_nested_work_runs_serially()
    {
        var (threadIds, nested) = WithThreads(2, () =>
        {
            var ids = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
            var nestedCalls = new System.Collections.Concurrent.ConcurrentBag<(bool Inside, long Start, long End, bool SameThread)>();
            for (int rep = 0; rep < 50; rep++)
            {
                CpuParallel.For(64, 1, (s, e) =>
                {
                    ids[Environment.CurrentManagedThreadId] = true;
                    Thread.SpinWait(2000);
                    int outer = Environment.CurrentManagedThreadId;
                    CpuParallel.For(100, 1, (ns, ne) =>
                        nestedCalls.Add((CpuParallel.IsInsideParallelRegion, ns, ne, Environment.CurrentManagedThreadId == outer)));
                });
            }
            return (ids.Count, nestedCalls.ToArray());
        });
        Assert.InRange(threadIds, 1, 2);
        Assert.NotEmpty(nested);
        Assert.All(nested, n => Assert.Equal((true, 0L, 100L, true), n));
        Assert.False(CpuParallel.IsInsideParallelRegion);
    }

    [Fact]
    public void An_exception_in_a_chunk_reaches_the_caller_and_the_pool_keeps_working()
    {
        WithThreads(2, () =>
        {
            var error = Assert.Throws<AggregateException>(() =>
                CpuParallel.For(1000, 1, (s, e) =>
                {
                    if (s > 0) throw new InvalidOperationException("chunk failed");
                }));
            Assert.IsType<InvalidOperationException>(error.InnerException);
            long sum = 0;
            CpuParallel.For(1000, 1, (s, e) =>
            {
                long local = 0;
                for (long i = s; i < e; i++) local += i;
                Interlocked.Add(ref sum, local);
            });
            Assert.Equal(999L * 1000 / 2, sum);
            return 0;
        });
    }

    [Fact]
    public void Many_short_regions_from_several_threads_at_once_compute_exactly()
    {
        WithThreads(2, () =>
        {
            // Back-to-back regions exercise the hand-over between regions (a late worker must never run a chunk
            // of a newer region with an older region's job); several opening threads exercise the serial fallback.
            var tasks = Enumerable.Range(0, 3).Select(t => Task.Run(() =>
            {
                for (int rep = 0; rep < 2000; rep++)
                {
                    int count = 1 + (rep * 7 + t) % 50;
                    var hits = new int[count];
                    CpuParallel.ForEach(count, i => Interlocked.Increment(ref hits[i]));
                    if (hits.Any(h => h != 1)) return $"thread {t} rep {rep}: an index ran {hits.First(h => h != 1)} times";
                }
                return null;
            })).ToArray();
            Task.WaitAll(tasks, TestContext.Current.CancellationToken);
            Assert.All(tasks, task => Assert.Null(task.Result));
            return 0;
        });
    }
}
