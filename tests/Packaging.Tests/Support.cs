using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace Ttt.Packaging.Tests;

/// <summary>Where the repository and this build are, and whether snapshots are being refreshed.</summary>
internal static class Repo
{
    /// <summary>The repository root: the folder above the test binaries that holds Directory.Build.props and src/.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The configuration this test assembly was built in (the examples and libraries were built in it too).</summary>
    public static string Configuration { get; } =
        typeof(Repo).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";

    /// <summary>
    /// Set <c>TTT_UPDATE_SNAPSHOTS=1</c> to rewrite the public API files and the code blocks of the docs from their
    /// sources instead of comparing them.
    /// </summary>
    public static bool Updating => Environment.GetEnvironmentVariable("TTT_UPDATE_SNAPSHOTS") == "1";

    /// <summary>The command that refreshes every snapshot, quoted in failure messages.</summary>
    public const string UpdateCommand =
        "TTT_UPDATE_SNAPSHOTS=1 dotnet test --project tests/Packaging.Tests/Ttt.Packaging.Tests.csproj -c Release";

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Directory.Build.props")) && Directory.Exists(System.IO.Path.Combine(dir.FullName, "src")))
                return dir.FullName;
        throw new DirectoryNotFoundException($"repository root not found above {AppContext.BaseDirectory}");
    }
}

/// <summary>Runs a child process with a timeout, capturing standard output and error together.</summary>
internal static class ChildProcess
{
    /// <summary>The dotnet host running these tests (so a child uses the same SDK), else dotnet on the PATH.</summary>
    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    public static (int ExitCode, string Output) Run(string fileName, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        // A child build must not inherit the MSBuild of the test host's own build (dotnet test sets these).
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(key);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";

        var output = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            lock (output) return (-1, $"timed out after {timeout.TotalSeconds:F0} s: {fileName} {string.Join(' ', arguments)}\n{output}");
        }
        process.WaitForExit();
        lock (output) return (process.ExitCode, output.ToString());
    }

    /// <summary>Runs <c>dotnet ARGS</c> and fails the test, with the output, unless it exits with 0.</summary>
    public static string Dotnet(string workingDirectory, TimeSpan timeout, params string[] arguments)
    {
        var (code, output) = Run(DotnetHost, arguments, workingDirectory, timeout);
        Assert.True(code == 0, $"dotnet {string.Join(' ', arguments)} exited with {code}:\n{output}");
        return output;
    }
}

/// <summary>A temporary folder deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder(string prefix)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
