using System.Text;
using System.Text.RegularExpressions;

namespace Ttt.Packaging.Tests;

/// <summary>
/// Every ```csharp block in docs/, examples/ and the package READMEs (src/PROJECT/README.md) is a region of a file in docs/snippets/, which this
/// project compiles (and whose code the tests below run). A block is marked by the line before it:
/// <c>&lt;!-- snippet: NAME --&gt;</c>; the region is <c>#region snippet: NAME</c> … <c>#endregion</c>.
/// <see cref="Repo.UpdateCommand"/> rewrites the blocks from the regions.
/// </summary>
public sealed partial class DocSnippetTests
{
    [GeneratedRegex(@"^[ \t]*#region snippet: (?<name>[\w.-]+)[ \t]*\r?\n(?<body>.*?)^[ \t]*#endregion", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex RegionPattern();

    [GeneratedRegex(@"(?<marker><!-- snippet: (?<name>[\w.-]+) -->\r?\n)?```(?<lang>csharp|cs|c#)\r?\n(?<body>.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex BlockPattern();

    private static Dictionary<string, string> Regions()
    {
        var regions = new Dictionary<string, string>();
        foreach (var file in Directory.GetFiles(Repo.Path("docs", "snippets"), "*.cs"))
            foreach (Match m in RegionPattern().Matches(File.ReadAllText(file).ReplaceLineEndings("\n")))
                Assert.True(regions.TryAdd(m.Groups["name"].Value, Dedent(m.Groups["body"].Value)), $"snippet {m.Groups["name"].Value} defined twice");
        return regions;
    }

    private static string Dedent(string body)
    {
        var lines = body.TrimEnd('\n').Split('\n');
        int indent = lines.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join("\n", lines.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart())) + "\n";
    }

    public static IEnumerable<string> MarkdownFiles() =>
        Directory.GetFiles(Repo.Path("docs"), "*.md", SearchOption.AllDirectories)
            .Concat(Directory.GetDirectories(Repo.Path("src")).Select(d => Path.Combine(d, "README.md")).Where(File.Exists))   // package READMEs
            .Concat(Directory.GetFiles(Repo.Path("examples"), "*.md", SearchOption.AllDirectories))
            .Order(StringComparer.Ordinal);

    [Fact]
    public void Every_csharp_block_of_the_docs_is_a_compiled_snippet()
    {
        var regions = Regions();
        Assert.NotEmpty(regions);
        var problems = new StringBuilder();
        int blocks = 0;
        foreach (var file in MarkdownFiles())
        {
            var text = File.ReadAllText(file).ReplaceLineEndings("\n");
            var relative = Path.GetRelativePath(Repo.Root, file);
            var updated = BlockPattern().Replace(text, m =>
            {
                blocks++;
                int line = text[..m.Index].Count(c => c == '\n') + (m.Groups["marker"].Success ? 2 : 1);
                if (!m.Groups["marker"].Success)
                {
                    problems.AppendLine($"{relative}:{line}: a ```{m.Groups["lang"].Value} block without a '<!-- snippet: NAME -->' line before it");
                    return m.Value;
                }
                var name = m.Groups["name"].Value;
                if (!regions.TryGetValue(name, out var code))
                {
                    problems.AppendLine($"{relative}:{line}: no region 'snippet: {name}' in docs/snippets/*.cs");
                    return m.Value;
                }
                if (m.Groups["body"].Value != code && !Repo.Updating)
                    problems.AppendLine($"{relative}:{line}: block '{name}' differs from its compiled region");
                return $"{m.Groups["marker"].Value}```csharp\n{code}```";
            });
            if (Repo.Updating && updated != text) File.WriteAllText(file, updated);
        }
        Assert.True(blocks > 0, "no code blocks found in the docs");
        Assert.True(problems.Length == 0, problems + $"Fix the marker, or copy the regions into the docs with: {Repo.UpdateCommand}");
    }

    [GeneratedRegex(@"\]\((?<target>[^)\s#]+)(#[^)]*)?\)")]
    private static partial Regex LinkPattern();

    [Fact]
    public void Every_relative_link_of_the_docs_points_to_a_file_or_folder()
    {
        var broken = new StringBuilder();
        foreach (var file in MarkdownFiles())
        {
            var text = File.ReadAllText(file);
            foreach (Match m in LinkPattern().Matches(text))
            {
                var target = m.Groups["target"].Value;
                if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal)) continue;
                var resolved = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, target));
                if (!File.Exists(resolved) && !Directory.Exists(resolved))
                    broken.AppendLine($"{Path.GetRelativePath(Repo.Root, file)}: link to {target} does not resolve");
            }
        }
        Assert.True(broken.Length == 0, broken.ToString());
    }

    [Fact]
    public void The_block_check_rejects_unmarked_and_stale_blocks()
    {
        // The two patterns on a known text: one marked block, one unmarked.
        var text = "<!-- snippet: a -->\n```csharp\nvar x = 1;\n```\n\n```csharp\nvar y = 2;\n```\n";
        var matches = BlockPattern().Matches(text);
        Assert.Equal(2, matches.Count);
        Assert.Equal("a", matches[0].Groups["name"].Value);
        Assert.False(matches[1].Groups["marker"].Success);
        var region = RegionPattern().Match("class C\n{\n    #region snippet: a\n    var x = 1;\n    #endregion\n}\n");
        Assert.Equal("var x = 1;\n", Dedent(region.Groups["body"].Value));
    }
}
