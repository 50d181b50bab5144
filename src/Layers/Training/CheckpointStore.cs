using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ttt.IO;

namespace Ttt.Training;

/// <summary>
/// The checkpoints of a training run: <c>OUT/checkpoints/step-NNNNNNN/</c>, each holding config.json,
/// model.safetensors, optimizer.safetensors, trainer_state.json and a manifest.json with the SHA-256 of every file.
/// A checkpoint is written into a temporary folder, every file flushed to disk, the manifest written last, and the
/// folder renamed into place, so a crash never leaves a partial checkpoint under a final name. Only the newest
/// <see cref="Keep"/> are kept; <see cref="LatestValid"/> skips damaged ones. Checkpoints are removed the same way
/// they appear: renamed out of the final name first (one atomic step), then deleted, so a crash during the deletion
/// leaves a hidden leftover, never a half-deleted folder that looks like a checkpoint. Leftovers of a killed process
/// (<c>.tmp-*</c> and <c>.old-*</c> folders, and the temporary files of <see cref="AtomicFile"/> in the run folder)
/// are removed by <see cref="RemoveLeftovers"/>.
/// </summary>
public sealed class CheckpointStore(string runFolder, int keep = 3)
{
    private const string Prefix = "step-";
    private const string TempPrefix = ".tmp-";
    private const string OldPrefix = ".old-";

    /// <summary>Folder of the run.</summary>
    public string RunFolder { get; } = runFolder;

    /// <summary>Folder holding the checkpoints.</summary>
    public string Folder => Path.Combine(RunFolder, "checkpoints");

    /// <summary>How many checkpoints to keep.</summary>
    public int Keep { get; } = Math.Max(1, keep);

    /// <summary>Writes a checkpoint for <paramref name="step"/>: files are produced by <paramref name="writeFiles"/>
    /// into the folder it is given (it must create every file it lists in the manifest).</summary>
    public string Save(long step, Action<string> writeFiles)
    {
        ArgumentNullException.ThrowIfNull(writeFiles);
        Directory.CreateDirectory(Folder);
        RemoveLeftovers();
        var final = Path.Combine(Folder, Name(step));
        var temp = Path.Combine(Folder, $"{TempPrefix}{Name(step)}-{Environment.ProcessId}");
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        Directory.CreateDirectory(temp);
        try
        {
            writeFiles(temp);
            var manifest = new JsonObject { ["step"] = step, ["files"] = new JsonObject() };
            foreach (var file in Directory.GetFiles(temp).Order(StringComparer.Ordinal))
                ((JsonObject)manifest["files"]!)[Path.GetFileName(file)] = Hash(file);
            AtomicFile.WriteAllText(Path.Combine(temp, "manifest.json"), manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            // A checkpoint of this step already exists when training resumed from an older one (the newer was
            // damaged, or a run is repeated): move it aside first so that the final name always holds a whole one.
            if (Directory.Exists(final)) Discard(final);
            Directory.Move(temp, final);
        }
        catch
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
            throw;
        }
        Prune();
        return final;
    }

    /// <summary>Checkpoint folders, newest first.</summary>
    public IReadOnlyList<(long Step, string Path)> List()
    {
        if (!Directory.Exists(Folder)) return [];
        return Directory.GetDirectories(Folder)
            .Select(d => (Name: Path.GetFileName(d), Path: d))
            .Where(d => d.Name.StartsWith(Prefix, StringComparison.Ordinal) && long.TryParse(d.Name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            .Select(d => (long.Parse(d.Name.AsSpan(Prefix.Length), CultureInfo.InvariantCulture), d.Path))
            .OrderByDescending(d => d.Item1)
            .ToList();
    }

    /// <summary>Null when the checkpoint's manifest matches its files, else the reason it is damaged.</summary>
    public static string? Verify(string checkpoint)
    {
        var manifestPath = Path.Combine(checkpoint, "manifest.json");
        if (!File.Exists(manifestPath)) return "manifest.json is missing";
        JsonObject? manifest;
        try
        {
            manifest = JsonNode.Parse(File.ReadAllText(manifestPath), documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }) as JsonObject;
        }
        catch (JsonException e)
        {
            return $"manifest.json is not valid JSON ({e.Message})";
        }
        if (manifest?["files"] is not JsonObject files || files.Count == 0) return "manifest.json lists no files";
        foreach (var (name, value) in files)
        {
            if (name.Length == 0 || Path.GetFileName(name) != name || name is "." or "..") return $"manifest.json lists '{name}', which is not a file name";
            if (value is not JsonValue hash || !hash.TryGetValue<string>(out var expected)) return $"manifest.json gives no checksum for {name}";
            var path = Path.Combine(checkpoint, name);
            if (!File.Exists(path)) return $"{name} is missing";
            if (expected != Hash(path)) return $"{name} does not match its checksum";
        }
        return null;
    }

    /// <summary>
    /// The newest checkpoint that verifies; damaged newer ones are reported through <paramref name="log"/> and
    /// skipped. Null when there is none.
    /// </summary>
    public (long Step, string Path)? LatestValid(Action<string>? log = null)
    {
        foreach (var (step, path) in List())
        {
            var problem = Verify(path);
            if (problem is null) return (step, path);
            log?.Invoke($"checkpoint {Path.GetFileName(path)} is damaged ({problem}); falling back to an older one");
        }
        return null;
    }

    private void Prune()
    {
        foreach (var (_, path) in List().Skip(Keep)) Discard(path);
    }

    /// <summary>Renames a checkpoint out of its final name (atomic), then deletes it.</summary>
    private void Discard(string checkpoint)
    {
        var old = Path.Combine(Folder, $"{OldPrefix}{Path.GetFileName(checkpoint)}-{Environment.ProcessId}");
        try
        {
            if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
            Directory.Move(checkpoint, old);
            Directory.Delete(old, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// Deletes what a killed writer can leave behind: <c>.tmp-*</c> (a checkpoint being written) and <c>.old-*</c>
    /// (one being deleted) folders of processes that no longer run, and the temporary files of
    /// <see cref="AtomicFile"/> (<c>.NAME.HEX.tmp</c>) directly in the run folder. Call it only while this process
    /// owns the run folder (the <c>ttt train</c> run lock); returns how many entries were removed.
    /// </summary>
    public int RemoveLeftovers(Action<string>? log = null)
    {
        int removed = 0;
        if (Directory.Exists(Folder))
            foreach (var dir in Directory.GetDirectories(Folder))
            {
                var name = Path.GetFileName(dir);
                if (!name.StartsWith(TempPrefix, StringComparison.Ordinal) && !name.StartsWith(OldPrefix, StringComparison.Ordinal)) continue;
                if (OwnerIsAlive(name)) continue;
                try
                {
                    Directory.Delete(dir, recursive: true);
                    removed++;
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
        if (Directory.Exists(RunFolder))
            foreach (var file in Directory.GetFiles(RunFolder))
                if (AtomicFile.IsTemporaryName(Path.GetFileName(file)))
                    try
                    {
                        File.Delete(file);
                        removed++;
                    }
                    catch (IOException) { }
                    catch (UnauthorizedAccessException) { }
        if (removed > 0) log?.Invoke($"removed {removed} leftover temporary file{(removed == 1 ? "" : "s")} of an interrupted run in {RunFolder}");
        return removed;
    }

    /// <summary>True when the process id that ends a <c>.tmp-</c>/<c>.old-</c> name is another, running process.</summary>
    private static bool OwnerIsAlive(string name)
    {
        int dash = name.LastIndexOf('-');
        if (dash < 0 || !int.TryParse(name.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) return false;
        if (pid == Environment.ProcessId) return false;
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
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

    private static string Name(long step) => Prefix + step.ToString("D7", CultureInfo.InvariantCulture);

    private static string Hash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
