using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Ttt.Packaging.Tests;

/// <summary>
/// Runs each program of examples/ (built by this project's references, in the same configuration) and checks
/// what it prints.
/// </summary>
public sealed class ExampleTests
{
    private static string Run(string example, params string[] arguments)
    {
        var dll = Repo.Path("examples", example, "bin", Repo.Configuration, "net10.0", example + ".dll");
        Assert.True(File.Exists(dll), $"{dll} not built");
        var (code, output) = ChildProcess.Run(ChildProcess.DotnetHost, ["exec", dll, .. arguments], Repo.Root, TimeSpan.FromMinutes(5));
        Assert.True(code == 0, $"{example} exited with {code}:\n{output}");
        return output;
    }

    private static double Number(string output, string pattern)
    {
        var match = Regex.Match(output, pattern, RegexOptions.Multiline);
        Assert.True(match.Success, $"'{pattern}' not found in:\n{output}");
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Embedding_a_ttt_layer_trains_on_user_data_and_beats_the_naive_forecast()
    {
        var output = Run("EmbedTttLayer");
        double first = Number(output, @"^step +0: train loss (\S+)$");
        double last = Number(output, @"^step +120: train loss (\S+)$");
        double test = Number(output, @"^test loss: (\S+)$");
        double naive = Number(output, @"^naive forecast \(next = current\): (\S+)$");
        Assert.True(last < first / 4, $"training did not reduce the loss enough: {first} → {last}\n{output}");
        Assert.True(test < naive, $"the trained model ({test}) does not beat the naive forecast ({naive})\n{output}");
    }

    [Fact]
    public void A_custom_inner_model_trains_through_the_autograd_inner_loop()
    {
        var output = Run("CustomInnerModel");
        double first = Number(output, @"^step +0: loss (\S+)$");
        double last = Number(output, @"^step 30: loss (\S+)$");
        Assert.True(last < first * 0.9, $"the loss did not fall: {first} → {last}\n{output}");
    }

    [Fact]
    public void The_property_based_gradient_tests_of_a_user_op_pass_and_catch_a_wrong_backward()
    {
        var output = Run("GradientPropertyTest", "-noColor");
        Assert.Matches(@"Total: 3, Errors: 0, Failed: 0, Skipped: 0", output);
    }

    [Fact]
    public void An_official_checkpoint_loads_reproduces_the_reference_loss_and_generates()
    {
        var folder = Repo.Path("tests", "fixtures", "reference", "linear_mamba");
        var output = Run("OfficialCheckpoint", folder, "Hello, TTT");
        // The loss of this checkpoint on its ids, computed by the reference implementation of the official code.
        using var index = JsonDocument.Parse(File.ReadAllText(Repo.Path("tests", "fixtures", "reference", "index.json")));
        double reference = index.RootElement.GetProperty("cases").EnumerateArray()
            .Single(c => c.GetProperty("name").GetString() == "linear_mamba").GetProperty("loss").GetDouble();
        double loss = Number(output, @"^loss on input_ids.json: (\S+)$");
        Assert.True(Math.Abs(loss - reference) < 1e-4 * reference, $"loss {loss} vs reference {reference}\n{output}");
        var ids = Regex.Match(output, @"^generated ids: (.+)$", RegexOptions.Multiline).Groups[1].Value.Split(' ');
        Assert.Equal(24, ids.Length);
        Assert.All(ids, id => Assert.InRange(long.Parse(id, CultureInfo.InvariantCulture), 0, 127));
        Assert.Contains("recurrent decoding agrees with the full forward: True", output, StringComparison.Ordinal);
    }
}
