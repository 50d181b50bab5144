using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Ttt.Backends;
using Ttt.Cuda.Kernels;

namespace Ttt.Cuda.Tests.Cpu;

/// <summary>
/// Provenance of the committed PTX and the agreement between the C# launchers and the kernels' entry points.
/// Needs only files: runs everywhere.
/// </summary>
public sealed partial class PtxTests
{
    /// <summary>The ptx/ folder copied next to the tests (see the test project).</summary>
    private static string PtxDir => Path.Combine(AppContext.BaseDirectory, "ptx");

    private static Dictionary<string, string> ManifestHashes(string kind) =>
        File.ReadAllLines(Path.Combine(PtxDir, "manifest"))
            .Where(l => l.StartsWith(kind + " ", StringComparison.Ordinal))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .ToDictionary(p => p[2], p => p[1], StringComparer.Ordinal);

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public void Every_kernel_source_matches_the_manifest()
    {
        var listed = ManifestHashes("source");
        var files = Directory.GetFiles(PtxDir, "*.cu").Concat(Directory.GetFiles(PtxDir, "*.cuh")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.NotEmpty(files);
        Assert.Equal(files, listed.Keys.Order(StringComparer.Ordinal).ToArray());
        foreach (var f in files)
            Assert.True(listed[f!] == Sha256(Path.Combine(PtxDir, f!)),
                $"ptx/{f} changed since the PTX was built: run ptx/build.sh and commit the .ptx, manifest and resources.txt");
    }

    [Fact]
    public void Every_ptx_file_matches_the_manifest_and_the_embedded_copy()
    {
        var listed = ManifestHashes("ptx");
        var files = Directory.GetFiles(PtxDir, "*.ptx").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(files, listed.Keys.Order(StringComparer.Ordinal).ToArray());
        foreach (var f in files)
        {
            var path = Path.Combine(PtxDir, f!);
            Assert.True(listed[f!] == Sha256(path), $"ptx/{f} differs from the one ptx/build.sh wrote");
            Assert.Equal(File.ReadAllText(path), PtxModules.ReadPtx(Path.GetFileNameWithoutExtension(f!)));
        }
        // One .cu per family, one .ptx per .cu.
        Assert.Equal(
            Directory.GetFiles(PtxDir, "*.cu").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal),
            files.Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_manifest_records_the_compiler_and_flags()
    {
        var lines = File.ReadAllLines(Path.Combine(PtxDir, "manifest"));
        Assert.Contains(lines, l => l.StartsWith("nvcc: ", StringComparison.Ordinal) && l.Contains("release", StringComparison.Ordinal));
        var flags = lines.Single(l => l.StartsWith("flags: ", StringComparison.Ordinal));
        Assert.Contains("-arch=compute_80", flags, StringComparison.Ordinal);
        Assert.Contains("-O3", flags, StringComparison.Ordinal);
    }

    [Fact]
    public void Resources_show_no_register_spills()
    {
        var rows = File.ReadAllLines(Path.Combine(PtxDir, "resources.txt")).Skip(2)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToArray();
        Assert.Equal(KernelCatalog.All.Count, rows.Length);
        foreach (var r in rows)
            Assert.True(r[4] == "0" && r[5] == "0", $"kernel {r[0]} spills registers ({r[4]} B stored, {r[5]} B loaded)");
    }

    [GeneratedRegex(@"\.visible\s+\.entry\s+(\w+)\s*\(([^)]*)\)", RegexOptions.Singleline)]
    private static partial Regex EntryRegex();

    [GeneratedRegex(@"\.param\s+(?:\.align\s+(\d+)\s+)?\.(\w+)\s+\w+(?:\[(\d+)\])?")]
    private static partial Regex ParamRegex();

    /// <summary>The .entry signatures of a family's embedded PTX: name → parameter (type, array bytes).</summary>
    private static Dictionary<string, List<(string Type, int Bytes)>> Entries(string family)
    {
        var result = new Dictionary<string, List<(string, int)>>(StringComparer.Ordinal);
        foreach (Match m in EntryRegex().Matches(PtxModules.ReadPtx(family)))
        {
            var ps = ParamRegex().Matches(m.Groups[2].Value)
                .Select(p => (p.Groups[2].Value, p.Groups[3].Success ? int.Parse(p.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture) : 0))
                .ToList();
            result[m.Groups[1].Value] = ps;
        }
        return result;
    }

    private static bool Matches(KernelParamKind kind, (string Type, int Bytes) p) => kind switch
    {
        KernelParamKind.Pointer or KernelParamKind.Int64 => p.Type is "u64" or "s64" or "b64" && p.Bytes == 0,
        KernelParamKind.Int32 => p.Type is "u32" or "s32" or "b32" && p.Bytes == 0,
        KernelParamKind.Float32 => p.Type == "f32",
        KernelParamKind.Float64 => p.Type == "f64",
        KernelParamKind.Shape => p.Type == "b8" && p.Bytes == 80,
        KernelParamKind.Strides => p.Type == "b8" && p.Bytes == 72,
        _ => false,
    };

    [Fact]
    public void Every_launched_kernel_exists_in_the_embedded_ptx_with_the_launchers_parameters()
    {
        var byFamily = KernelCatalog.Families.ToDictionary(f => f, Entries, StringComparer.Ordinal);
        foreach (var spec in KernelCatalog.All)
        {
            Assert.True(byFamily[spec.Family].TryGetValue(spec.Name, out var ps), $"{spec.Name} is not in ptx/{spec.Family}.ptx");
            Assert.True(ps!.Count == spec.Parameters.Count, $"{spec.Name}: the PTX declares {ps.Count} parameters, the launcher passes {spec.Parameters.Count}");
            for (int i = 0; i < ps.Count; i++)
                Assert.True(Matches(spec.Parameters[i], ps[i]), $"{spec.Name}: parameter {i} is .{ps[i].Type}[{ps[i].Bytes}] in the PTX, {spec.Parameters[i]} in the launcher");
        }
    }

    [Fact]
    public void Every_ptx_entry_is_known_to_the_catalog()
    {
        var known = KernelCatalog.All.Select(k => k.Name).ToHashSet(StringComparer.Ordinal);
        var families = Directory.GetFiles(PtxDir, "*.ptx").Select(Path.GetFileNameWithoutExtension).ToArray();
        Assert.Equal(families.Order(StringComparer.Ordinal), KernelCatalog.Families);
        foreach (var f in families)
            foreach (var e in Entries(f!).Keys)
                Assert.True(known.Contains(e), $"ptx/{f}.ptx has entry {e} that no launcher declares");
    }

    [GeneratedRegex(@"\b([URBA])_(\w+)\s*=\s*(\d+)")]
    private static partial Regex EnumRegex();

    private static Dictionary<string, int> CodeEnum(string file, string prefix) =>
        EnumRegex().Matches(File.ReadAllText(Path.Combine(PtxDir, file)))
            .Where(m => m.Groups[1].Value == prefix)
            .ToDictionary(m => m.Groups[2].Value, m => int.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture), StringComparer.Ordinal);

    private static void SameEnum<TEnum>(Dictionary<string, int> codes) where TEnum : struct, Enum
    {
        var expected = Enum.GetValues<TEnum>().ToDictionary(v => v.ToString(), v => Convert.ToInt32(v, System.Globalization.CultureInfo.InvariantCulture), StringComparer.Ordinal);
        Assert.Equal(expected.OrderBy(p => p.Value), codes.OrderBy(p => p.Value));
    }

    [Fact]
    public void Kernel_op_codes_match_the_primitive_enums()
    {
        SameEnum<UnaryOp>(CodeEnum("elementwise.cu", "U"));
        SameEnum<BinaryOp>(CodeEnum("elementwise.cu", "B"));
        SameEnum<ReduceOp>(CodeEnum("reduce.cu", "R"));
        SameEnum<ArgReduceOp>(CodeEnum("reduce.cu", "A"));
    }
}
