using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ttt.Cpu;
using Ttt.Models;

namespace Ttt.Tests;

/// <summary>
/// Speed of the TTT scan, fused vs composed, in one run (the cores are shared, so only same-run ratios mean
/// much). Runs only with <c>TTT_BENCH=1</c> (otherwise skipped):
/// <code>TTT_BENCH=1 dotnet test tests/Layers.Tests/Ttt.Layers.Tests.csproj -c Release -- --filter-class '*FusedBenchmark*'</code>
/// Shape: B=1, H=12, d=64, K=16, T=2048, float32, 2 threads (override with TTT_BENCH_T, TTT_BENCH_THREADS).
/// Writes a table to TestResults/fused-benchmark.txt under the repository root. Rows: "fused op" and "composed" go
/// through the public ops as a layer does (fresh output and gradient tensors every call); "fused kernels" reuses
/// the output and saved-state buffers, which isolates the kernels from first-touch page faults (about 30 µs per
/// 4 KB page on the project's VMs, so every fresh 6 MB tensor costs tens of ms). Both medians and fastest runs
/// are reported: on shared cores the median mostly measures the other processes.
/// <para>FLOPs counted (the dual form's useful work, per mini-batch per head, k = K):
/// TTT-Linear forward 2Kd² (X·W) + 2Kd² (Q·W) + 3·2K²d (Q·Xᵀ, (E⊙A)·G and tril(E)·G, which the kernel merges into
/// one P·G) + 2Kd² (state update) = 6Kd² + 6K²d;
/// TTT-MLP forward 7·8Kd² (X·W1, Q·W1, X2·W2, G2·W2ᵀ, X2b·W2, the two updates) + 2K²d + 8K²d + 8K²d + 2K²d = 56Kd² + 20K²d.
/// Forward+backward is counted as 3× the forward (the usual convention: backward ≈ 2× forward), so recomputation
/// inside the backward is not counted as useful work.</para>
/// </summary>
public class FusedBenchmarkTests
{
    private static int Env(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : fallback;

    private static double Median(List<double> xs)
    {
        xs.Sort();
        return xs[xs.Count / 2];
    }

    [Fact]
    public void Fused_vs_composed_scan_speed()
    {
        Assert.SkipUnless(Environment.GetEnvironmentVariable("TTT_BENCH") == "1", "benchmark: set TTT_BENCH=1 to run");
        int b = 1, h = 12, d = 64, k = 16, t = Env("TTT_BENCH_T", 2048);
        int threads = Env("TTT_BENCH_THREADS", 2);
        int previousThreads = CpuParallel.Threads;
        CpuParallel.Threads = threads;
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"TTT scan benchmark: B={b} H={h} d={d} K={k} T={t} float32, {threads} threads, {Environment.ProcessorCount} logical CPUs, Vector512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}");
        report.AppendLine("GFLOP/s from the median (and from the fastest run); forward+backward counts 3x the forward FLOPs.");
        report.AppendLine("inner   path               pass              median ms    min ms   GFLOP/s med (min)   runs");
        try
        {
            foreach (var inner in new[] { "linear", "mlp" })
            {
                double perMb = inner == "linear" ? 6.0 * k * d * d + 6.0 * k * k * d : 56.0 * k * d * d + 20.0 * k * k * d;
                double fwdFlops = perMb * b * h * ((t + k - 1) / k);
                var c = new FusedScanTests.ScanCase(b, h, t, d, k, inner, false, true, 0, 0, 42);
                var inputs = FusedScanTests.Inputs(c, DType.Float32);
                InnerModel model = inner == "linear" ? new LinearInner() : new MlpInner();
                void Line(string path, string pass, List<double> ms, double flops)
                {
                    ms.Sort();
                    double med = ms[ms.Count / 2], min = ms[0];
                    report.AppendLine(CultureInfo.InvariantCulture,
                        $"{inner,-7} {path,-18} {pass,-16} {med,10:F1} {min,9:F1}   {flops / med / 1e6,7:F1} ({flops / min / 1e6:F1})   {ms.Count}");
                }
                foreach (var fused in new[] { true, false })
                {
                    int runs = fused ? 11 : 3;
                    var fwd = new List<double>();
                    var both = new List<double>();
                    for (int r = 0; r < runs + 1; r++)      // run 0 is the warm-up
                    {
                        var leaves = inputs.Select(x => x.Detach().RequireGrad()).ToArray();
                        var sw = Stopwatch.StartNew();
                        using (GradMode.Disable()) Scan(model, leaves, fused);
                        double f = sw.Elapsed.TotalMilliseconds;
                        sw.Restart();
                        var outs = Scan(model, leaves, fused);
                        var grads = Autograd.Grad([outs[0]], leaves, [Tensor.OnesLike(outs[0])]);
                        double fb = sw.Elapsed.TotalMilliseconds;
                        GC.KeepAlive(grads);
                        if (r == 0) continue;
                        fwd.Add(f);
                        both.Add(fb);
                    }
                    Line(fused ? "fused op" : "composed", "forward", fwd, fwdFlops);
                    Line(fused ? "fused op" : "composed", "forward+backward", both, 3 * fwdFlops);
                }
                // The kernels alone: output and saved-state buffers allocated once and reused (the backward still
                // allocates its gradient tensors), i.e. without the first-touch cost of fresh tensors.
                {
                    int s = inputs.Length - 7;
                    var shape = new ScanShape(model, inputs[..s], inputs[s], inputs[s + 1], inputs[s + 2], inputs[s + 3], inputs[s + 4], inputs[s + 5], inputs[s + 6]);
                    int bits = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? 512 : 256;
                    var flat = Tensor.Zeros([shape.FlatLength], DType.Float32);
                    var saved = Tensor.Zeros([shape.B * shape.H * shape.Slots(1) * shape.PaddedStateSize(bits)], DType.Float32);
                    var grad = Tensor.RandN([shape.FlatLength], new Generator(3), DType.Float32);
                    var fwd = new List<double>();
                    var both = new List<double>();
                    for (int r = 0; r < 16; r++)
                    {
                        var sw = Stopwatch.StartNew();
                        Ttt.Models.Fused.Kernels.Forward(shape, inputs, flat, saved, 1, bits);
                        double f = sw.Elapsed.TotalMilliseconds;
                        var g = Ttt.Models.Fused.Kernels.Backward(shape, inputs, saved, grad, 1, bits);
                        double fb = sw.Elapsed.TotalMilliseconds;
                        GC.KeepAlive(g);
                        if (r < 1) continue;
                        fwd.Add(f);
                        both.Add(fb);
                    }
                    Line("fused kernels", "forward", fwd, fwdFlops);
                    Line("fused kernels", "forward+backward", both, 3 * fwdFlops);
                }
            }
        }
        finally
        {
            CpuParallel.Threads = previousThreads;
        }
        string text = report.ToString();
        TestContext.Current.TestOutputHelper?.WriteLine(text);
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Ttt.sln"))) dir = dir.Parent;
        var outDir = Path.Combine(dir?.FullName ?? AppContext.BaseDirectory, "TestResults");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "fused-benchmark.txt"), text);
    }

    private static Tensor[] Scan(InnerModel model, Tensor[] x, bool fused)
    {
        int s = x.Length - 7;
        if (!fused) return TttFused.Composed(model, x);
        var (o, st) = TttFused.Scan(model, x[..s], x[s], x[s + 1], x[s + 2], x[s + 3], x[s + 4], x[s + 5], x[s + 6]);
        return [o, .. st];
    }
}
