using System.Globalization;
using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Ttt.Packaging.Tests;

/// <summary>
/// Packs every package once (from the binaries this test project's build produced) into a temporary folder.
/// </summary>
public sealed class PackedPackages : IDisposable
{
    /// <summary>Package id → project, for every package `dotnet pack` produces.</summary>
    public static readonly IReadOnlyDictionary<string, string> Projects = new Dictionary<string, string>
    {
        ["Ttt.Tensor"] = "src/Tensor/Ttt.Tensor.csproj",
        ["Ttt.Autograd"] = "src/Autograd/Ttt.Autograd.csproj",
        ["Ttt.Layers"] = "src/Layers/Ttt.Layers.csproj",
        ["Ttt.Cuda"] = "src/Cuda/Ttt.Cuda.csproj",
        ["Ttt.Testing"] = "src/Testing/Ttt.Testing.csproj",
        ["Ttt.Cli"] = "src/Cli/Ttt.Cli.csproj",
    };

    private readonly TempFolder _temp = new("ttt-packages");

    public PackedPackages()
    {
        // A version no real release has, so nothing cached under another build's name can be picked up.
        Version = "0.0.0-local." + DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        Feed = Directory.CreateDirectory(System.IO.Path.Combine(_temp.Path, "feed")).FullName;
        // One MSBuild invocation packs all projects; NoBuild: the binaries are those this test project was built with.
        var items = string.Join("\n", Projects.Values.Select(p => $"    <PackProject Include=\"{Repo.Path(p)}\" />"));
        var packProject = System.IO.Path.Combine(_temp.Path, "pack.proj");
        File.WriteAllText(packProject, $"""
            <Project>
              <ItemGroup>
            {items}
              </ItemGroup>
              <Target Name="PackAll">
                <MSBuild Projects="@(PackProject)" Targets="Pack" BuildInParallel="false"
                         Properties="Configuration={Repo.Configuration};NoBuild=true;PackageVersion={Version};PackageOutputPath={Feed}/" />
              </Target>
            </Project>
            """);
        PackOutput = ChildProcess.Dotnet(_temp.Path, TimeSpan.FromMinutes(5), "msbuild", packProject, "-t:PackAll", "-nologo", "-v:m", "-nodeReuse:false");
    }

    public string Version { get; }

    public string Feed { get; }

    public string PackOutput { get; }

    public string Temp => _temp.Path;

    public string PackagePath(string id) => System.IO.Path.Combine(Feed, $"{id}.{Version}.nupkg");

    public void Dispose() => _temp.Dispose();
}

public sealed class PackageTests(PackedPackages packages) : IClassFixture<PackedPackages>
{
    private static readonly XNamespace Nuspec = "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd";

    private static XElement Metadata(ZipArchive zip, string id)
    {
        var entry = zip.GetEntry($"{id}.nuspec") ?? throw new InvalidDataException($"{id}: no nuspec");
        using var stream = entry.Open();
        var root = XDocument.Load(stream).Root!;
        return root.Elements().Single(e => e.Name.LocalName == "metadata");
    }

    private static string? Field(XElement metadata, string name) => metadata.Elements().FirstOrDefault(e => e.Name.LocalName == name)?.Value;

    [Fact]
    public void Every_project_under_src_is_a_package_checked_here()
    {
        var projects = Directory.GetFiles(Repo.Path("src"), "*.csproj", SearchOption.AllDirectories)
            .Select(p => System.IO.Path.GetRelativePath(Repo.Root, p).Replace('\\', '/')).Order(StringComparer.Ordinal);
        Assert.Equal(projects, PackedPackages.Projects.Values.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_package_has_its_metadata_and_readme()
    {
        foreach (var id in PackedPackages.Projects.Keys)
        {
            var path = packages.PackagePath(id);
            Assert.True(File.Exists(path), $"{id}: not packed. Output:\n{packages.PackOutput}");
            using var zip = ZipFile.OpenRead(path);
            var m = Metadata(zip, id);
            Assert.Equal(id, Field(m, "id"));
            Assert.Equal(packages.Version, Field(m, "version"));
            Assert.Equal("Ttt contributors", Field(m, "authors"));
            var license = m.Elements().Single(e => e.Name.LocalName == "license");
            Assert.Equal("expression", license.Attribute("type")?.Value);
            Assert.Equal("MIT", license.Value);
            Assert.True((Field(m, "description") ?? "").Length > 40, $"{id}: description too short");
            Assert.Contains("test-time-training", Field(m, "tags") ?? "", StringComparison.Ordinal);
            var repository = m.Elements().Single(e => e.Name.LocalName == "repository");
            Assert.Equal("git", repository.Attribute("type")?.Value);
            Assert.Equal("README.md", Field(m, "readme"));
            using var readme = new StreamReader(zip.GetEntry("README.md")!.Open());
            Assert.StartsWith("# ", readme.ReadToEnd(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("Ttt.Tensor")]
    [InlineData("Ttt.Autograd")]
    [InlineData("Ttt.Layers")]
    [InlineData("Ttt.Cuda")]
    [InlineData("Ttt.Testing")]
    public void Libraries_ship_xml_docs_and_embedded_debug_information(string id)
    {
        using var zip = ZipFile.OpenRead(packages.PackagePath(id));
        var xml = zip.GetEntry($"lib/net10.0/{id}.xml");
        Assert.NotNull(xml);
        using (var stream = xml.Open())
            Assert.True(XDocument.Load(stream).Descendants("member").Count() > 10, $"{id}: the XML documentation is nearly empty");
        using var pe = new PEReader(new MemoryStream(ReadAll(zip, $"lib/net10.0/{id}.dll")));
        Assert.Contains(pe.ReadDebugDirectory(), d => d.Type == DebugDirectoryEntryType.EmbeddedPortablePdb);
        Assert.Contains(pe.ReadDebugDirectory(), d => d.Type == DebugDirectoryEntryType.Reproducible);
    }

    [Fact]
    public void Package_dependencies_follow_project_references()
    {
        using var zip = ZipFile.OpenRead(packages.PackagePath("Ttt.Layers"));
        var dependencies = Metadata(zip, "Ttt.Layers").Descendants().Where(e => e.Name.LocalName == "dependency")
            .ToDictionary(e => e.Attribute("id")!.Value, e => e.Attribute("version")!.Value);
        Assert.Equal(packages.Version, dependencies["Ttt.Tensor"]);
        Assert.Equal(packages.Version, dependencies["Ttt.Autograd"]);
        Assert.Contains("Microsoft.ML.Tokenizers", dependencies.Keys);
    }

    [Fact]
    public void The_tool_package_installs_the_ttt_command()
    {
        using var zip = ZipFile.OpenRead(packages.PackagePath("Ttt.Cli"));
        var packageTypes = Metadata(zip, "Ttt.Cli").Descendants().Where(e => e.Name.LocalName == "packageType").Select(e => e.Attribute("name")?.Value);
        Assert.Contains("DotnetTool", packageTypes);
        var settings = zip.Entries.Single(e => e.FullName.EndsWith("/DotnetToolSettings.xml", StringComparison.Ordinal));
        using var stream = settings.Open();
        var command = XDocument.Load(stream).Descendants("Command").Single();
        Assert.Equal("ttt", command.Attribute("Name")?.Value);
        Assert.Equal("ttt.dll", command.Attribute("EntryPoint")?.Value);
        Assert.Contains(zip.Entries, e => e.FullName.EndsWith("/ttt.dll", StringComparison.Ordinal));
    }

    [Fact]
    public void The_cuda_package_embeds_every_ptx_module()
    {
        using var zip = ZipFile.OpenRead(packages.PackagePath("Ttt.Cuda"));
        using var pe = new PEReader(new MemoryStream(ReadAll(zip, "lib/net10.0/Ttt.Cuda.dll")));
        var reader = pe.GetMetadataReader();
        var resources = reader.ManifestResources.Select(h => reader.GetString(reader.GetManifestResource(h).Name)).ToHashSet();
        var ptx = Directory.GetFiles(Repo.Path("ptx"), "*.ptx").Select(p => $"Ttt.Cuda.ptx.{System.IO.Path.GetFileName(p)}").ToList();
        Assert.NotEmpty(ptx);
        foreach (var name in ptx) Assert.Contains(name, resources);
    }

    /// <summary>
    /// A fresh console project, outside the repository, restores Ttt.Layers from the local folder only (the other
    /// packages it needs come from this machine's NuGet cache, so no network is used) and runs a TTT layer forward
    /// and backward; the program checks its input gradient against finite differences and prints the error.
    /// </summary>
    [Fact]
    public void A_fresh_project_runs_a_ttt_layer_from_the_packages()
    {
        var project = Directory.CreateDirectory(System.IO.Path.Combine(packages.Temp, "consumer")).FullName;
        var consumer = System.IO.Path.Combine(AppContext.BaseDirectory, "Consumer");
        File.Copy(System.IO.Path.Combine(consumer, "Program.cs"), System.IO.Path.Combine(project, "Program.cs"), overwrite: true);
        File.WriteAllText(System.IO.Path.Combine(project, "Consumer.csproj"),
            File.ReadAllText(System.IO.Path.Combine(consumer, "Consumer.csproj.template")).Replace("$(TttVersion)", packages.Version, StringComparison.Ordinal));
        var cache = MachinePackageCache();
        File.WriteAllText(System.IO.Path.Combine(project, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{System.IO.Path.Combine(packages.Temp, "packages")}" />
              </config>
              <packageSources>
                <clear />
                <add key="ttt-local" value="{packages.Feed}" />
              </packageSources>
              <fallbackPackageFolders>
                <clear />
                <add key="machine-cache" value="{cache}" />
              </fallbackPackageFolders>
            </configuration>
            """);
        var output = ChildProcess.Dotnet(project, TimeSpan.FromMinutes(5), "run", "-c", "Release");
        foreach (var kind in new[] { "linear", "mlp" })
        {
            var match = Regex.Match(output, $@"^{kind}: output \[2, 6, 16\] gradient finite (\w+) finite-difference max relative error (\S+)$", RegexOptions.Multiline);
            Assert.True(match.Success, $"no result line for {kind}:\n{output}");
            Assert.Equal("True", match.Groups[1].Value);
            double error = double.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
            Assert.True(error < 1e-6, $"{kind}: autograd and finite differences differ by {error:E2} (relative)");
        }
    }

    /// <summary>
    /// The NuGet packages folder this repository's own restore used (from this project's restore output), where
    /// Ttt's dependencies already are; else NUGET_PACKAGES or the default location.
    /// </summary>
    private static string MachinePackageCache()
    {
        var assets = Repo.Path("tests", "Packaging.Tests", "obj", "project.assets.json");
        if (File.Exists(assets))
        {
            using var json = JsonDocument.Parse(File.ReadAllText(assets));
            if (json.RootElement.TryGetProperty("packageFolders", out var folders))
                foreach (var folder in folders.EnumerateObject())
                    if (Directory.Exists(folder.Name)) return folder.Name;
        }
        return Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
    }

    private static byte[] ReadAll(ZipArchive zip, string name)
    {
        var entry = zip.GetEntry(name) ?? throw new InvalidDataException($"{name} not in the package");
        using var stream = entry.Open();
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
