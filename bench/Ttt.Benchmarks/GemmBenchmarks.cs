using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Ttt.Cpu;

namespace Ttt.Benchmarks;

/// <summary>
/// BenchmarkDotNet: float32 matmul, Ttt against OpenBLAS (the baseline, so the Ratio column is Ttt / OpenBLAS),
/// for every <see cref="GemmCase"/> and 1 and 2 threads. Runs in process (see Program) so that OpenBLAS and the
/// Ttt worker threads live in the measured process.
/// </summary>
public class GemmBenchmarks : IDisposable
{
    private GemmOperands? _operands;

    public static IEnumerable<GemmCase> Shapes => GemmCase.All;

    [ParamsSource(nameof(Shapes))]
    public GemmCase Shape { get; set; } = GemmCase.All[0];

    [Params(1, 2)]
    public int Threads { get; set; } = 1;

    [GlobalSetup]
    public void Setup()
    {
        CpuParallel.Threads = Threads;
        if (OpenBlas.IsAvailable) OpenBlas.SetThreads(Threads);
        _operands = new GemmOperands(Shape);
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _operands?.Dispose();
        _operands = null;
        GC.SuppressFinalize(this);
    }

    [Benchmark(Description = "Ttt")]
    public void Ttt() => _operands!.RunTtt();

    [Benchmark(Baseline = true, Description = "OpenBLAS")]
    public void OpenBLAS() => _operands!.RunOpenBlas();
}

/// <summary>GFLOP/s of a GEMM benchmark, from its median time and the shape's flop count.</summary>
internal sealed class GflopsColumn : IColumn
{
    public string Id => nameof(GflopsColumn);
    public string ColumnName => "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Billions of floating-point operations per second (GEMM: 2·M·K·N per product; TTT layer: see TttLayerBenchmarks; median time)";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics is not { } stats) return "-";
        double flops;
        if (benchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == nameof(GemmBenchmarks.Shape))?.Value is GemmCase shape) flops = shape.Flops;
        else if (benchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == nameof(TttLayerBenchmarks.Inner))?.Value is string inner)
            flops = TttLayerBenchmarks.ForwardFlops(inner) * (benchmarkCase.Descriptor.WorkloadMethod.Name == nameof(TttLayerBenchmarks.ForwardBackward) ? 3 : 1);
        else return "-";
        return (flops / stats.Median).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
}
