using System.Globalization;

namespace Ttt.Tests;

/// <summary>ttt experiment ablation / context end to end on a few steps: the results folder, its CSV and table, and the guards.</summary>
public class ExperimentCommandTests
{
    private static string[] Tiny(string name, string outDir) =>
        ["experiment", name, "--quick", "--steps", "2", "--seq-len", "32", "--batch", "2", "--eval-batches", "1", "--out", outDir];

    /// <summary>Splits one CSV line, honouring double quotes.</summary>
    private static List<string> Fields(string line)
    {
        var fields = new List<string>();
        var current = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (c == '"' && quoted && i + 1 < line.Length && line[i + 1] == '"') { current.Append('"'); i++; }
            else if (c == '"') quoted = !quoted;
            else if (c == ',' && !quoted) { fields.Add(current.ToString()); current.Clear(); }
            else current.Append(c);
        }
        fields.Add(current.ToString());
        return fields;
    }

    [Theory]
    [InlineData("ablation", 6)]
    [InlineData("context", 4)]
    public void Experiment_writes_results_csv_table_and_plots(string name, int models)
    {
        using var dir = CliRunner.Temp();
        var run = dir.File("results");
        var (code, output, error) = CliRunner.Run(Tiny(name, run));
        Assert.True(code == 0, error + output);
        foreach (var f in new[] { "results.csv", "results.md", "loss_by_position.csv", "loss_by_position.png", "gap_to_bayes.png" })
            Assert.True(File.Exists(Path.Combine(run, f)), $"{f} is missing");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(run, "loss_by_position.png"))[..4]);

        var lines = File.ReadAllLines(Path.Combine(run, "results.csv"));
        Assert.Equal(models + 1, lines.Length);
        var header = Fields(lines[0]);
        int loss = header.IndexOf("eval_loss"), parameters = header.IndexOf("parameters"), tokens = header.IndexOf("train_tokens"), bayes = header.IndexOf("bayes_optimal_loss");
        Assert.All(new[] { loss, parameters, tokens, bayes }, i => Assert.True(i >= 0));
        var rows = lines[1..].Select(Fields).ToArray();
        Assert.All(rows, r => Assert.Equal(header.Count, r.Count));
        foreach (var r in rows)
        {
            double l = double.Parse(r[loss], CultureInfo.InvariantCulture), b = double.Parse(r[bayes], CultureInfo.InvariantCulture);
            Assert.InRange(l, 0.5, 10);
            Assert.True(l >= b - 0.5, "a model cannot beat the Bayes-optimal loss by much on 64 tokens");
            Assert.Equal(2L * 2 * 32, long.Parse(r[tokens], CultureInfo.InvariantCulture)); // the same token budget for every model
            Assert.True(long.Parse(r[parameters], CultureInfo.InvariantCulture) > 0);
        }
        var md = File.ReadAllText(Path.Combine(run, "results.md"));
        Assert.Contains(name == "ablation" ? "| configuration | parameters | loss | Δ |" : "| model | parameters | loss |", md);
        Assert.Contains(name == "ablation" ? "+ learnable W0" : "TTT-MLP (M)", md);
        var positions = File.ReadAllLines(Path.Combine(run, "loss_by_position.csv"));
        Assert.Equal(33, positions.Length);                                   // header + 32 positions
        Assert.Equal(models + 2, Fields(positions[0]).Count);                 // position, one per model, Bayes-optimal

        // A second run into the same folder is refused.
        Assert.Equal(2, CliRunner.Run(Tiny(name, run)).Code);
    }

    [Fact]
    public void Bad_experiment_names_and_data_are_usage_errors()
    {
        Assert.Equal(2, CliRunner.Run("experiment").Code);
        Assert.Equal(2, CliRunner.Run("experiment", "nonsense").Code);
        Assert.Equal(2, CliRunner.Run("experiment", "ablation", "context").Code);
        Assert.Equal(2, CliRunner.Run("experiment", "ablation", "--data", "mqar").Code);
        Assert.Equal(2, CliRunner.Run("experiment", "context", "--backbone", "mamba").Code);
        Assert.Equal(2, CliRunner.Run("experiment", "ablation", "--backbone", "rnn").Code);
        Assert.Equal(2, CliRunner.Run("experiment", "ablation", "--data", "text:no/such/file").Code);
        var (code, output, _) = CliRunner.Run("experiment", "--help");
        Assert.Equal(0, code);
        Assert.Contains("ablation|context", output);
    }

    [Fact]
    public void Text_data_works_without_a_reference_curve()
    {
        using var dir = CliRunner.Temp();
        var corpus = dir.File("corpus.txt");
        File.WriteAllText(corpus, string.Concat(Enumerable.Repeat("the quick brown fox jumps over the lazy dog. ", 200)));
        var run = dir.File("results");
        var (code, output, error) = CliRunner.Run(["experiment", "context", "--data", "text:" + corpus, "--steps", "2", "--seq-len", "32", "--batch", "2", "--eval-batches", "1", "--out", run]);
        Assert.True(code == 0, error + output);
        Assert.Equal(5, File.ReadAllLines(Path.Combine(run, "results.csv")).Length);
        Assert.False(File.Exists(Path.Combine(run, "gap_to_bayes.png")));
    }
}
