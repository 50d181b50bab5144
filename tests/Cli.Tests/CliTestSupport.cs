namespace Ttt.Tests;

/// <summary>Runs the ttt command in-process, capturing its output and exit code.</summary>
public static class CliRunner
{
    private static readonly Lock s_console = new();

    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        lock (s_console)
        {
            var previous = Console.Out;
            Console.SetOut(output); // commands print progress through Console.Out
            try
            {
                int code = Ttt.Cli.Cli.Run(args, output, error);
                return (code, output.ToString(), error.ToString());
            }
            finally
            {
                Console.SetOut(previous);
            }
        }
    }

    /// <summary>The repository root (the folder holding Ttt.sln).</summary>
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Ttt.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new DirectoryNotFoundException("repository root not found");
        }
    }

    public static string Reference(string name) => Path.Combine(RepoRoot, "tests", "fixtures", "reference", name);

    /// <summary>A fresh temporary folder, deleted with the returned scope.</summary>
    public static TempDir Temp() => new();

    public sealed class TempDir : IDisposable
    {
        public TempDir()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ttt-test-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); }
            catch (IOException) { }
        }
    }
}
