using Ttt.Cpu;

namespace Ttt.Tests;

/// <summary>
/// The thread pool under back-to-back regions of changing sizes: every chunk of every region runs exactly once and no
/// region waits forever (a late worker of one region must never take part in the next).
/// </summary>
public class CpuParallelStressTests
{
    [Fact]
    public async Task Back_to_back_regions_of_changing_sizes_run_every_item_exactly_once()
    {
        int saved = CpuParallel.Threads;
        CpuParallel.Threads = Math.Max(2, Environment.ProcessorCount);
        try
        {
            // Competing busy threads make the OS preempt pool threads at arbitrary points, which is what exposes
            // a worker that lingers in a finished region while the next one is being set up.
            using var stop = new CancellationTokenSource();
            var noise = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
            {
                double x = 0;
                while (!stop.IsCancellationRequested) x += Math.Sqrt(x + 1);
                return x;
            }, TestContext.Current.CancellationToken)).ToArray();
            var runner = Task.Run(() =>
            {
                for (int region = 0; region < 300_000; region++)
                {
                    int count = region % 2 == 0 ? 2 : 9;         // alternate small and larger regions
                    var hits = new int[count];
                    CpuParallel.For(count, 1, (s, e) =>
                    {
                        for (long i = s; i < e; i++) Interlocked.Increment(ref hits[i]);
                    });
                    for (int i = 0; i < count; i++)
                        if (hits[i] != 1) throw new InvalidOperationException($"region {region}: item {i} ran {hits[i]} times");
                }
            }, TestContext.Current.CancellationToken);
            var finished = await Task.WhenAny(runner, Task.Delay(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken));
            await stop.CancelAsync();
            await Task.WhenAll(noise);
            Assert.True(finished == runner, "a parallel region never completed");
            await runner;
        }
        finally
        {
            CpuParallel.Threads = saved;
        }
    }
}
