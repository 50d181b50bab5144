using System.Diagnostics;
using System.Globalization;
using Ttt.Cpu;
using Ttt.Models;

namespace Ttt.Tests.Baselines;

/// <summary>
/// Timing of the selective-scan kernel at the Mamba-790M mixer width (B = 1, L = 2048, E·D = 1536, N = 16), with a
/// same-run baseline: the naive float64 recurrence of the tests (one thread, scalar). Each figure is the best of
/// several runs, as wall time and as the process's CPU time (which a shared, loaded machine distorts less).
/// Explicit: it runs only when asked for, e.g.
/// <code>
/// dotnet test tests/Layers.Tests/Ttt.Layers.Tests.csproj -c Release -- --filter-class '*MambaScanBenchmark*' --explicit only --output detailed
/// </code>
/// </summary>
public class MambaScanBenchmark(ITestOutputHelper output)
{
    private const int Repeats = 9;

    [Fact(Explicit = true)]
    public void Selective_scan_speed()
    {
        var size = new ScanSize(1, 2048, 1536, 16);
        double steps = (double)size.B * size.L * size.E * size.N;
        var report = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"selective scan B={size.B} L={size.L} E·D={size.E} N={size.N} chunk={SelectiveScan.DefaultChunkSize}, {Environment.ProcessorCount} cores, vectors {SelectiveScanKernel.DefaultVectorBits} bit; best of {Repeats}, wall ms (CPU ms)"),
        };
        int threadsBefore = CpuParallel.Threads;
        try
        {
            foreach (var dtype in (DType[])[DType.Float32, DType.Float64])
            {
                var x = ScanInputs.Random(size, 1, float32: dtype == DType.Float32);
                var leaves = x.Tensors(dtype).Select(t => t.RequireGrad()).ToArray();
                var dy = x.DyTensor(dtype);
                foreach (int threads in new[] { 1, threadsBefore }.Distinct())
                {
                    CpuParallel.Threads = threads;
                    var inference = Best(() =>
                    {
                        using (GradMode.Disable()) SelectiveScan.Apply(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5]);
                    });
                    Tensor? y = null;
                    var forward = Best(() => y = SelectiveScan.Apply(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5]));
                    var backward = Best(() => Autograd.Grad([y!], leaves, [dy], retainGraph: true));
                    report.Add(string.Create(CultureInfo.InvariantCulture,
                        $"  {dtype.Name(),-7} {threads} thread(s): forward {inference.Wall,6:F1} ({inference.Cpu,5:F1}) no grad, {forward.Wall,6:F1} ({forward.Cpu,5:F1}) saving chunk states; backward {backward.Wall,6:F1} ({backward.Cpu,5:F1}); {inference.Wall * 1e6 / steps:F2} / {backward.Wall * 1e6 / steps:F2} ns per (t, channel, state)"));
                }
            }
            var baselineInputs = ScanInputs.Random(size, 1);
            var naive = Best(() => NaiveScan.Forward(baselineInputs), repeats: 2);
            report.Add(string.Create(CultureInfo.InvariantCulture, $"  baseline: naive float64 recurrence, 1 thread, scalar: forward {naive.Wall,6:F1} ({naive.Cpu,5:F1})"));
        }
        finally
        {
            CpuParallel.Threads = threadsBefore;
        }
        foreach (var line in report) output.WriteLine(line);
    }

    /// <summary>Best wall and CPU time in ms over <paramref name="repeats"/> runs after one warm-up run.</summary>
    private static (double Wall, double Cpu) Best(Action run, int repeats = Repeats)
    {
        run(); // warm-up (JIT, caches)
        double wall = double.MaxValue, cpu = double.MaxValue;
        using var process = Process.GetCurrentProcess();
        for (int i = 0; i < repeats; i++)
        {
            process.Refresh();
            var cpuStart = process.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            run();
            wall = Math.Min(wall, sw.Elapsed.TotalMilliseconds);
            process.Refresh();
            cpu = Math.Min(cpu, (process.TotalProcessorTime - cpuStart).TotalMilliseconds);
        }
        return (wall, cpu);
    }
}
