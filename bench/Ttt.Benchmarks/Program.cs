using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Filters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Ttt.Benchmarks;

// --quick: one Stopwatch table (QuickGemm). Anything else goes to BenchmarkDotNet, e.g. --filter '*Gemm*'.
if (args.Contains("--quick")) return QuickGemm.Run(args);

foreach (var line in MachineInfo.Lines()) Console.WriteLine(line);
var config = DefaultConfig.Instance
    .AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(10))
    .AddColumn(new GflopsColumn());
if (!OpenBlas.IsAvailable)
{
    Console.WriteLine("OpenBLAS not found: running the Ttt benchmarks alone (install libopenblas-dev for the baseline).");
    config = config.AddFilter(new NameFilter(name => name != nameof(GemmBenchmarks.OpenBLAS)));
}
BenchmarkSwitcher.FromAssembly(typeof(GemmBenchmarks).Assembly).Run(args, config);
return 0;
