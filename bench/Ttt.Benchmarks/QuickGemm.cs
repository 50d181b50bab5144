using System.Diagnostics;
using System.Globalization;
using Ttt.Cpu;

namespace Ttt.Benchmarks;

/// <summary>
/// <c>--quick</c>: a plain Stopwatch comparison of Ttt's GEMM with OpenBLAS, printed as one Markdown table.
/// For every shape and thread count both are warmed up and checked against each other, then timed in
/// <c>--reps</c> interleaved pairs (the order alternates each pair, so drift in the load on a shared machine
/// affects both alike); each sample repeats the call until it lasts ≥ 25 ms. Reported: the median GFLOP/s of each,
/// the median of the per-pair ratios Ttt / OpenBLAS, and their quartiles (how much the pairs disagreed).
/// <c>--clock thread</c> times with the calling thread's CPU time instead of the wall clock: on a machine that other
/// jobs load, the wall clock also counts the time the thread waited for a core, which the CPU time does not. It is
/// meaningful only with <c>--threads 1</c> (both libraries then compute on the calling thread); a tuning aid.
/// </summary>
internal static partial class QuickGemm
{
    private static bool s_threadClock;
    private const double MinSampleSeconds = 0.025;

    public static int Run(string[] args)
    {
        int reps = IntOption(args, "--reps", 11);
        int[] threadCounts = Option(args, "--threads") is { } t
            ? [.. t.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))]
            : [1, 2];
        string? only = Option(args, "--shape");
        s_threadClock = Option(args, "--clock") == "thread";
        if (s_threadClock && threadCounts.Any(t => t != 1)) throw new ArgumentException("--clock thread needs --threads 1");
        var shapes = GemmCase.All.Where(s => only is null || s.Name.Contains(only, StringComparison.Ordinal)).ToList();

        foreach (var line in MachineInfo.Lines()) Console.WriteLine(line);
        bool haveBlas = OpenBlas.IsAvailable;
        if (!haveBlas) Console.WriteLine("OpenBLAS not found: printing Ttt alone (install libopenblas-dev for the baseline).");
        Console.WriteLine($"float32, row-major, {reps} interleaved samples per cell, medians, {(s_threadClock ? "thread CPU time" : "wall clock")}.");
        Console.WriteLine($"Start: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {MachineInfo.LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("| shape (M×K×N) | threads | Ttt GFLOP/s | OpenBLAS GFLOP/s | ratio | ratio p25–p75 |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var shape in shapes)
        {
            foreach (int threads in threadCounts)
            {
                using var ops = new GemmOperands(shape);
                CpuParallel.Threads = threads;
                if (haveBlas)
                {
                    OpenBlas.SetThreads(threads);
                    double diff = ops.CompareWithOpenBlas();
                    if (diff > 1e-3) Console.WriteLine($"WARNING: {shape} threads={threads}: Ttt and OpenBLAS differ by {diff:E2}");
                }
                int calls = Calibrate(ops.RunTtt);
                if (haveBlas) calls = Math.Max(calls, Calibrate(ops.RunOpenBlas));
                var ttt = new double[reps];
                var blas = new double[reps];
                for (int r = 0; r < reps; r++)
                {
                    if (haveBlas && r % 2 == 1) blas[r] = Time(ops.RunOpenBlas, calls);
                    ttt[r] = Time(ops.RunTtt, calls);
                    if (haveBlas && r % 2 == 0) blas[r] = Time(ops.RunOpenBlas, calls);
                }
                double flops = shape.Flops * calls / 1e9;
                var tttG = ttt.Select(s => flops / s).ToArray();
                if (haveBlas)
                {
                    var blasG = blas.Select(s => flops / s).ToArray();
                    var ratio = tttG.Zip(blasG, (x, y) => x / y).ToArray();
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {shape} | {threads} | {Median(tttG):F1} | {Median(blasG):F1} | {Median(ratio):F2} | {Quantile(ratio, 0.25):F2}–{Quantile(ratio, 0.75):F2} |"));
                }
                else
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {shape} | {threads} | {Median(tttG):F1} | OpenBLAS not found | – | – |"));
                }
            }
        }
        Console.WriteLine();
        Console.WriteLine($"End: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {MachineInfo.LoadAverage()}");
        return 0;
    }

    /// <summary>Warms up <paramref name="run"/> and returns how many calls make a sample of ≥ 25 ms.</summary>
    private static int Calibrate(Action run)
    {
        for (int i = 0; i < 3; i++) run();
        var sw = Stopwatch.StartNew();
        int calls = 0;
        while (sw.Elapsed.TotalSeconds < 0.2 || calls < 3)
        {
            run();
            calls++;
        }
        double perCall = sw.Elapsed.TotalSeconds / calls;
        return Math.Max(1, (int)Math.Ceiling(MinSampleSeconds / perCall));
    }

    private static double Time(Action run, int calls)
    {
        if (s_threadClock)
        {
            double t0 = ThreadCpuSeconds();
            for (int i = 0; i < calls; i++) run();
            return ThreadCpuSeconds() - t0;
        }
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < calls; i++) run();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    private const int ClockThreadCpuTime = 3;

    [System.Runtime.InteropServices.LibraryImport("libc.so.6", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    private static double ThreadCpuSeconds()
    {
        if (ClockGetTime(ClockThreadCpuTime, out var t) != 0) throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        return t.Seconds + t.Nanoseconds * 1e-9;
    }

    private static double Median(double[] values) => Quantile(values, 0.5);

    /// <summary>The q-quantile with linear interpolation between order statistics (q = 0.5: the median).</summary>
    private static double Quantile(double[] values, double q)
    {
        var sorted = values.Order().ToArray();
        double position = q * (sorted.Length - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(below + 1, sorted.Length - 1);
        return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
    }

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static int IntOption(string[] args, string name, int fallback) =>
        Option(args, name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
}
