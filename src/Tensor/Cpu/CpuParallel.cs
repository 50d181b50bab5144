namespace Ttt.Cpu;

/// <summary>
/// Splits independent CPU work over threads. <see cref="Threads"/> bounds the parallelism of every kernel
/// (the <c>--threads</c> option). Work issued from inside a parallel region runs serially on the calling thread,
/// so nested kernels (a GEMM inside a batched loop) never oversubscribe the cores.
/// </summary>
public static class CpuParallel
{
    private static int s_threads = Environment.ProcessorCount;
    [ThreadStatic] private static bool t_inside;

    /// <summary>Maximum number of threads a kernel uses (default: the processor count).</summary>
    public static int Threads
    {
        get => s_threads;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            s_threads = value;
        }
    }

    /// <summary>True on a thread that is running a chunk of a parallel loop.</summary>
    public static bool IsInsideParallelRegion => t_inside;

    /// <summary>Number of chunks <see cref="For"/> would use for this much work.</summary>
    public static int ChunkCount(long count, long minChunk)
    {
        if (t_inside || s_threads <= 1 || count <= minChunk) return 1;
        return (int)Math.Clamp(count / Math.Max(minChunk, 1), 1, s_threads);
    }

    /// <summary>
    /// Runs <paramref name="body"/>(start, end) over a partition of [0, <paramref name="count"/>) into at most
    /// <see cref="Threads"/> contiguous chunks of at least <paramref name="minChunk"/> items each.
    /// </summary>
    public static void For(long count, long minChunk, Action<long, long> body)
    {
        if (count <= 0) return;
        int chunks = ChunkCount(count, minChunk);
        if (chunks == 1)
        {
            body(0, count);
            return;
        }
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = chunks }, c =>
        {
            long start = count * c / chunks, end = count * (c + 1) / chunks;
            bool was = t_inside;
            t_inside = true;
            try { body(start, end); }
            finally { t_inside = was; }
        });
    }

    /// <summary>Runs <paramref name="body"/>(i) for every i in [0, count), spread over the threads.</summary>
    public static void ForEach(int count, Action<int> body)
    {
        For(count, 1, (s, e) =>
        {
            for (long i = s; i < e; i++) body((int)i);
        });
    }
}
