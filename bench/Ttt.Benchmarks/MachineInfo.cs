using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Ttt.Benchmarks;

/// <summary>What a benchmark result needs next to it: CPU, cores, runtime, SIMD width, baseline library.</summary>
internal static class MachineInfo
{
    public static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line is not null) return line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    /// <summary>The 1, 5 and 15 minute load averages (Linux), to show how busy a shared machine was.</summary>
    public static string LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return $"load average {parts[0]}, {parts[1]}, {parts[2]} on {Environment.ProcessorCount} cores";
        }
        catch (IOException)
        {
            return "load average unknown";
        }
        catch (UnauthorizedAccessException)
        {
            return "load average unknown";
        }
    }

    public static IEnumerable<string> Lines()
    {
        yield return $"CPU: {CpuModel()}, {Environment.ProcessorCount} logical cores";
        yield return $"Runtime: {RuntimeInformation.FrameworkDescription} on {RuntimeInformation.OSDescription}";
        yield return $"SIMD: Vector512 {(Vector512.IsHardwareAccelerated ? "accelerated" : "not accelerated")}, Vector256 {(Vector256.IsHardwareAccelerated ? "accelerated" : "not accelerated")}";
        yield return $"Baseline: {OpenBlas.Describe()}";
    }
}
