using System.Diagnostics;

namespace Ttt.Cli.Bench;

/// <summary>Wall-clock timing: warm-up runs, then the median of repeated runs.</summary>
public static class Timing
{
    /// <summary>Median milliseconds of <paramref name="reps"/> runs after <paramref name="warmup"/> unmeasured ones.</summary>
    public static double MedianMs(Action run, int warmup = 1, int reps = 5)
    {
        ArgumentNullException.ThrowIfNull(run);
        for (int i = 0; i < warmup; i++) run();
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
