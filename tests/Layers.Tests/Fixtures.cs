using System.Text.Json;
using Ttt.IO;
using Ttt.Models;

namespace Ttt.Tests;

/// <summary>Access to the golden cases in tests/fixtures/reference (see its README).</summary>
public static class Fixtures
{
    private static readonly Lazy<string> s_root = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Ttt.sln"))) dir = dir.Parent;
        if (dir is null) throw new DirectoryNotFoundException("could not find the repository root (Ttt.sln) above " + AppContext.BaseDirectory);
        return Path.Combine(dir.FullName, "tests", "fixtures", "reference");
    });

    /// <summary>The folder holding the cases.</summary>
    public static string Root => s_root.Value;

    /// <summary>Names of the cases of a kind ("model" or "layer") from index.json.</summary>
    public static string[] Cases(string kind)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "index.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray()
            .Where(c => c.GetProperty("kind").GetString() == kind)
            .Select(c => c.GetProperty("name").GetString()!).ToArray();
    }

    /// <summary>One case's files.</summary>
    public sealed class Case(string name)
    {
        public string Name { get; } = name;
        public string Dir => Path.Combine(Root, Name);
        public TTTConfig Config => TTTConfig.Load(Path.Combine(Dir, "config.json"));
        public SafeTensorFile Weights(DType dtype) => SafeTensorFile.Load(Path.Combine(Dir, "model.safetensors"), dtype);
        public SafeTensorFile Inputs => SafeTensorFile.Load(Path.Combine(Dir, "inputs.safetensors"));
        public SafeTensorFile Outputs => SafeTensorFile.Load(Path.Combine(Dir, "outputs.safetensors"));
        public override string ToString() => Name;
    }

    /// <summary>max|a − e| / max|e| (the reference's relative error measure).</summary>
    public static double RelError(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        var e = expected.ToDoubleArray();
        var a = actual.ToDoubleArray();
        double maxDiff = 0, maxAbs = 0;
        for (int i = 0; i < e.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(a[i] - e[i]));
            maxAbs = Math.Max(maxAbs, Math.Abs(e[i]));
            if (double.IsNaN(a[i])) return double.PositiveInfinity;
        }
        return maxAbs == 0 ? maxDiff : maxDiff / maxAbs;
    }
}
