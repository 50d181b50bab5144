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
/// <see cref="Keep"/> are kept; <see cref="LatestValid"/> skips damaged ones.
/// </summary>
public sealed class CheckpointStore(string runFolder, int keep = 3)
{
    private const string Prefix = "step-";

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
        var final = Path.Combine(Folder, Name(step));
        var temp = Path.Combine(Folder, $".tmp-{Name(step)}-{Environment.ProcessId}");
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        Directory.CreateDirectory(temp);
        try
        {
            writeFiles(temp);
            var manifest = new JsonObject { ["step"] = step, ["files"] = new JsonObject() };
            foreach (var file in Directory.GetFiles(temp).Order(StringComparer.Ordinal))
                ((JsonObject)manifest["files"]!)[Path.GetFileName(file)] = Hash(file);
            AtomicFile.WriteAllText(Path.Combine(temp, "manifest.json"), manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
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
            manifest = JsonNode.Parse(File.ReadAllText(manifestPath)) as JsonObject;
        }
        catch (JsonException e)
        {
            return $"manifest.json is not valid JSON ({e.Message})";
        }
        if (manifest?["files"] is not JsonObject files || files.Count == 0) return "manifest.json lists no files";
        foreach (var (name, value) in files)
        {
            var path = Path.Combine(checkpoint, name);
            if (!File.Exists(path)) return $"{name} is missing";
            if (value?.GetValue<string>() != Hash(path)) return $"{name} does not match its checksum";
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
        foreach (var (_, path) in List().Skip(Keep))
            try { Directory.Delete(path, recursive: true); }
            catch (IOException) { }
    }

    private static string Name(long step) => Prefix + step.ToString("D7", CultureInfo.InvariantCulture);

    private static string Hash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
