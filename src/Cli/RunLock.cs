using System.Diagnostics;
using System.Globalization;

namespace Ttt.Cli;

/// <summary>
/// An exclusive lock on a run folder (<c>.lock</c> holding the owner's process id), so two <c>ttt train</c> runs
/// never write the same folder. A lock whose process no longer exists is stale and taken over.
/// </summary>
public sealed class RunLock : IDisposable
{
    private readonly string _path;
    private FileStream? _stream;

    private RunLock(string path, FileStream stream)
    {
        _path = path;
        _stream = stream;
    }

    /// <summary>Takes the lock or throws <see cref="UsageException"/> naming the process that holds it.</summary>
    public static RunLock Acquire(string folder, Action<string>? log = null)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, ".lock");
        for (int attempt = 0; attempt < 2; attempt++)
        {
            try
            {
                var stream = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
                var pid = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
                stream.Write(System.Text.Encoding.ASCII.GetBytes(pid));
                stream.Flush(true);
                return new RunLock(path, stream);
            }
            catch (IOException) when (File.Exists(path))
            {
                string text;
                try { text = File.ReadAllText(path).Trim(); }
                catch (IOException) { text = ""; }
                if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int owner) && IsAlive(owner) && owner != Environment.ProcessId)
                    throw new UsageException($"{folder} is in use by another ttt process (pid {owner}); wait for it to finish or choose another --out");
                log?.Invoke($"removing a stale lock in {folder} (process {(text.Length == 0 ? "unknown" : text)} is gone)");
                File.Delete(path);
            }
        }
        throw new UsageException($"could not lock {folder}");
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Releases the lock and deletes the file.</summary>
    public void Dispose()
    {
        if (_stream is null) return;
        _stream.Dispose();
        _stream = null;
        try { File.Delete(_path); }
        catch (IOException) { }
    }
}
