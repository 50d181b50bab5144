using System.Diagnostics;

namespace Ttt.Cli.Bench;

/// <summary>Wall-clock timing: warm-up runs, then the median of repeated runs.</summary>
public static class Timing
{
    /// <summary>The least time spent warming up a measured action (see <see cref="WarmUp"/>); 2 s by default.</summary>
    public static TimeSpan MinWarmup { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The most warm-up runs of a fast action.</summary>
    private const int MaxWarmupRuns = 200;

    /// <summary>
    /// Runs <paramref name="run"/> at least <paramref name="minRuns"/> times and for at least <see cref="MinWarmup"/>
    /// (up to 200 runs). The runtime compiles a hot method again, optimised, only after about 30 calls, on a background
    /// thread: with two or three warm-up runs a TTT layer step was timed while that compilation still ran and its
    /// loops still ran in less optimised code (a median of 168 ms after 3 warm-up steps, 144 ms after 40).
    /// </summary>
    public static void WarmUp(Action run, int minRuns)
    {
        ArgumentNullException.ThrowIfNull(run);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < minRuns || (clock.Elapsed < MinWarmup && i < MaxWarmupRuns); i++) run();
    }

    /// <summary>Median milliseconds of <paramref name="reps"/> runs after a warm-up (<see cref="WarmUp"/>) of at least <paramref name="warmup"/> runs.</summary>
    public static double MedianMs(Action run, int warmup = 1, int reps = 5)
    {
        ArgumentNullException.ThrowIfNull(run);
        WarmUp(run, warmup);
        var times = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            run();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[reps / 2];
    }
}
