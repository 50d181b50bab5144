using System.Diagnostics;
using System.Globalization;
using Ttt.Cpu;
using Ttt.Models;

namespace Ttt.Tests.Baselines;

/// <summary>
/// Timing of the selective-scan kernel at the Mamba-790M mixer width (B = 1, L = 2048, E·D = 1536, N = 16), with a
/// same-run baseline: the naive float64 recurrence of the tests (one thread, scalar). Explicit: it runs only when
/// asked for, e.g.
/// <code>
/// dotnet test tests/Layers.Tests/Ttt.Layers.Tests.csproj -c Release -- --filter-class '*MambaScanBenchmark*' --explicit only --output detailed
/// </code>
/// </summary>
public class MambaScanBenchmark(ITestOutputHelper output)
{
    private const int Repeats = 5;

    [Fact(Explicit = true)]
    public void Selective_scan_speed()
    {
        var size = new ScanSize(1, 2048, 1536, 16);
        double steps = (double)size.B * size.L * size.E * size.N;
        var report = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"selective scan B={size.B} L={size.L} E·D={size.E} N={size.N} chunk={SelectiveScan.DefaultChunkSize}, {Environment.ProcessorCount} cores, vectors {SelectiveScanKernel.DefaultVectorBits} bit; median of {Repeats}"),
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
                    double inference = Median(() =>
                    {
                        using (GradMode.Disable()) SelectiveScan.Apply(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5]);
                    });
                    Tensor? y = null;
                    double forward = Median(() => y = SelectiveScan.Apply(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5]));
                    double backward = Median(() => Autograd.Grad([y!], leaves, [dy], retainGraph: true));
                    report.Add(string.Create(CultureInfo.InvariantCulture,
                        $"  {dtype.Name(),-7} {threads} thread(s): forward {inference,7:F1} ms (no grad), {forward,7:F1} ms (saving chunk states); backward {backward,7:F1} ms; {inference * 1e6 / steps:F2} / {backward * 1e6 / steps:F2} ns per (t, channel, state)"));
                }
            }
            var baselineInputs = ScanInputs.Random(size, 1);
            double naive = Median(() => NaiveScan.Forward(baselineInputs), repeats: 1);
            report.Add(string.Create(CultureInfo.InvariantCulture, $"  baseline: naive float64 recurrence, 1 thread, scalar: forward {naive,7:F1} ms"));
        }
        finally
        {
            CpuParallel.Threads = threadsBefore;
        }
        foreach (var line in report) output.WriteLine(line);
    }

    private static double Median(Action run, int repeats = Repeats)
    {
        run(); // warm-up (JIT, caches)
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            run();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[repeats / 2];
    }
}
