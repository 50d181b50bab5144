using System.Diagnostics;

namespace Ttt.Cpu;

/// <summary>
/// Splits independent CPU work over threads. <see cref="Threads"/> bounds the parallelism of every kernel
/// (the <c>--threads</c> option). Work issued from inside a parallel region runs serially on the calling thread,
/// so nested kernels (a GEMM inside a batched loop) never oversubscribe the cores.
/// </summary>
/// <remarks>
/// The threads are a persistent pool of <c>Threads − 1</c> background workers plus the calling thread, which
/// always takes part. An empty region costs under a microsecond, not the tens that <c>Parallel.For</c> costs, which
/// matters to a blocked GEMM that opens two regions per K-block and to batches of small products.
/// After a region the workers keep polling for <see cref="WorkerSpin"/> (pause instructions for
/// <see cref="WorkerPause"/>, then yielding the core between polls) before they block on an event: waking a blocked
/// thread costs the caller a system call and, on a loaded machine, often its core for tens of microseconds (the
/// scheduler runs the woken thread in its place), more than a small region is worth. Chunks are claimed as threads
/// get free, so a worker that the OS has descheduled stalls nobody unless it holds a chunk.
/// One region runs on the pool at a time; a second thread that opens a region meanwhile runs it serially itself,
/// which on a machine with few cores is what it would get anyway.
/// </remarks>
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
        ArgumentNullException.ThrowIfNull(body);
        For(count, minChunk, body, static (b, s, e) => b(s, e));
    }

    /// <summary>
    /// As <see cref="For(long, long, Action{long, long})"/>, passing <paramref name="state"/> to a (typically
    /// static) body so that hot callers allocate no closure per call.
    /// </summary>
    internal static void For<TState>(long count, long minChunk, TState state, Action<TState, long, long> body)
        where TState : class
    {
        if (count <= 0) return;
        int chunks = ChunkCount(count, minChunk);
        if (chunks == 1 || !Pool.TryRun(count, chunks, chunks, state, body))
            body(state, 0, count);
    }

    /// <summary>
    /// Runs <paramref name="body"/>(state, start, end) over [0, <paramref name="count"/>) cut into
    /// min(<paramref name="chunks"/>, count) equal contiguous chunks, on at most min(<paramref name="threads"/>,
    /// <see cref="Threads"/>) threads that claim chunks as they go. For callers that have sized their work: more
    /// chunks than threads balance the load when a core is busy with something else (a thread that falls behind
    /// holds up only a small chunk); one thread, or a call from inside a region, runs everything here.
    /// </summary>
    internal static void ForChunks<TState>(long count, int chunks, int threads, TState state, Action<TState, long, long> body)
        where TState : class
    {
        if (count <= 0) return;
        chunks = (int)Math.Min(chunks, count);
        threads = Math.Min(Math.Min(threads, chunks), ChunkCount(long.MaxValue, 1));
        if (threads <= 1 || !Pool.TryRun(count, chunks, threads, state, body))
            body(state, 0, count);
    }

    /// <summary>Runs <paramref name="body"/>(i) for every i in [0, count), spread over the threads.</summary>
    public static void ForEach(int count, Action<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        For(count, 1, body, static (b, s, e) =>
        {
            for (long i = s; i < e; i++) b((int)i);
        });
    }

    /// <summary>
    /// How long an idle worker keeps polling for the next region before it blocks on its event. Counted in wall time,
    /// so on a loaded machine (where the worker also waits for a core) it must be well above one region's length.
    /// </summary>
    private static readonly TimeSpan WorkerSpin = TimeSpan.FromMilliseconds(2);

    /// <summary>For this long an idle worker polls with pause instructions; after that it yields between polls.</summary>
    private static readonly TimeSpan WorkerPause = TimeSpan.FromMicroseconds(50);

    /// <summary>A region's work: chunk c of <c>chunks</c> covers [count·c/chunks, count·(c+1)/chunks).</summary>
    private abstract class Job
    {
        public abstract void Run(long start, long end);
    }

    /// <summary>One reusable job object per state type: only one region uses the pool at a time.</summary>
    private sealed class Job<TState> : Job where TState : class
    {
        public static readonly Job<TState> Shared = new();
        public TState? State;
        public Action<TState, long, long>? Body;
        public override void Run(long start, long end) => Body!(State!, start, end);
    }

    /// <summary>The persistent workers and the state of the one region they serve.</summary>
    private static class Pool
    {
        private static readonly Lock s_gate = new();
        private static readonly List<Worker> s_workers = [];

        // The region being run. These fields are written by the caller before it publishes the region through
        // s_claim, and are read by a worker only after it has claimed a chunk of that region, so they are stable
        // for every reader that uses them.
        private static Job? s_job;
        private static long s_count;
        private static int s_chunks;
        private static int s_helpers;
        private static int s_remaining;
        private static Exception? s_error;
        private static int s_generation;

        // (generation << 32) | index of the next unclaimed chunk. Claiming is a compare-exchange on the whole
        // word, so a late worker can never claim a chunk of a newer region with the older region's job.
        private static long s_claim;

        /// <summary>Runs the region on <paramref name="threads"/> threads (the caller and threads − 1 workers).</summary>
        public static bool TryRun<TState>(long count, int chunks, int threads, TState state, Action<TState, long, long> body)
            where TState : class
        {
            if (!s_gate.TryEnter()) return false;
            var job = Job<TState>.Shared;
            try
            {
                EnsureWorkers(threads - 1);
                // Close the claim word under the new generation before touching the region's fields: a worker still
                // looping on the previous region must not be able to claim a "chunk" bounded by the new chunk count
                // (it would run the new job twice and decrement the new region's counter once too often, so the
                // caller would wait forever). Its compare-exchange on the old claim word now fails, and its next read
                // shows a foreign generation. Index int.MaxValue is never claimable.
                int generation = s_generation + 1;
                Interlocked.Exchange(ref s_claim, ((long)generation << 32) | int.MaxValue);
                job.State = state;
                job.Body = body;
                s_job = job;
                s_count = count;
                s_chunks = chunks;
                s_helpers = threads - 1;
                s_error = null;
                Volatile.Write(ref s_remaining, chunks);
                // Open the claim word before publishing the generation: a worker that sees the new generation must
                // find the new region's chunks, or it would consider the region done and miss it.
                Interlocked.Exchange(ref s_claim, (long)generation << 32);
                Interlocked.Exchange(ref s_generation, generation);
                for (int w = 0; w < threads - 1; w++) s_workers[w].Wake();

                RunChunks(generation, helper: -1);
                WaitForHelpers();

                var error = s_error;
                s_job = null;
                s_error = null;
                if (error is not null) throw new AggregateException(error);
                return true;
            }
            finally
            {
                job.State = null;
                job.Body = null;
                s_gate.Exit();
            }
        }

        /// <summary>
        /// Waits until the helpers have finished the chunks they claimed. Nothing is left to claim, so the wait is
        /// at most one chunk: busy-wait (pause) rather than yield, since a yield on a loaded machine hands the core
        /// to another process for a whole time slice; yield only if a helper has apparently lost its core.
        /// </summary>
        private static void WaitForHelpers()
        {
            if (Volatile.Read(ref s_remaining) == 0) return;
            long yieldAfter = Stopwatch.GetTimestamp() + (long)(WorkerPause.TotalSeconds * Stopwatch.Frequency);
            while (Volatile.Read(ref s_remaining) != 0)
            {
                if (Stopwatch.GetTimestamp() < yieldAfter) Thread.SpinWait(16);
                else Thread.Yield();
            }
        }

        /// <summary>
        /// Claims and runs chunks of region <paramref name="generation"/> until none is left. Worker number
        /// <paramref name="helper"/> (−1: the caller) takes part only if the region asked for that many helpers.
        /// </summary>
        private static void RunChunks(int generation, int helper)
        {
            bool wasInside = t_inside;
            t_inside = true;
            try
            {
                while (true)
                {
                    long claim = Volatile.Read(ref s_claim);
                    if ((int)(claim >> 32) != generation) return;
                    int index = (int)(claim & 0xFFFF_FFFF);
                    if (index >= Volatile.Read(ref s_chunks) || helper >= Volatile.Read(ref s_helpers)) return;
                    if (Interlocked.CompareExchange(ref s_claim, claim + 1, claim) != claim) continue;
                    // The claim succeeded, so the region cannot finish before this chunk does: its fields are stable.
                    long count = s_count;
                    int chunks = s_chunks;
                    try
                    {
                        s_job!.Run(count * index / chunks, count * (index + 1) / chunks);
                    }
#pragma warning disable CA1031 // the exception is handed to the thread that opened the region
                    catch (Exception e)
#pragma warning restore CA1031
                    {
                        Interlocked.CompareExchange(ref s_error, e, null);
                    }
                    Interlocked.Decrement(ref s_remaining);
                }
            }
            finally
            {
                t_inside = wasInside;
            }
        }

        private static void EnsureWorkers(int needed)
        {
            while (s_workers.Count < needed) s_workers.Add(new Worker(s_workers.Count));
        }

        private static int Generation => Volatile.Read(ref s_generation);

        private sealed class Worker
        {
            private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);

            private readonly int _index;

            public Worker(int index)
            {
                _index = index;
                var thread = new Thread(Loop) { IsBackground = true, Name = $"Ttt.CpuParallel #{index + 1}" };
                thread.Start();
            }

            // 1 while the worker is (about to be) blocked on _wake. Worker: set it, fence, re-read the generation;
            // caller: publish the generation, fence, read it. At least one of the two sees the other's write, so a
            // new region is never missed, and a caller only pays for the kernel call when the worker really sleeps.
            private int _sleeping;

            public void Wake()
            {
                if (Volatile.Read(ref _sleeping) != 0) _wake.Set();
            }

            private void Loop()
            {
                int seen = Generation;
                long spinTicks = (long)(WorkerSpin.TotalSeconds * Stopwatch.Frequency);
                long pauseTicks = (long)(WorkerPause.TotalSeconds * Stopwatch.Frequency);
                while (true)
                {
                    // Poll for a new region for a while, then block. Reset-then-recheck closes the race with a
                    // caller that publishes a region between our last poll and the wait.
                    long now = Stopwatch.GetTimestamp(), yieldFrom = now + pauseTicks, spinUntil = now + spinTicks;
                    while (Generation == seen && (now = Stopwatch.GetTimestamp()) < spinUntil)
                    {
                        if (now < yieldFrom) Thread.SpinWait(16);
                        else Thread.Yield();
                    }
                    while (Generation == seen)
                    {
                        _wake.Reset();
                        Interlocked.Exchange(ref _sleeping, 1);
                        if (Generation == seen) _wake.Wait();
                        Volatile.Write(ref _sleeping, 0);
                    }
                    seen = Generation;
                    RunChunks(seen, _index);
                }
            }
        }
    }
}
