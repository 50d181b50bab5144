using Ttt.IO;

namespace Ttt.Tests;

/// <summary>ttt eval on golden cases, and its handling of bad arguments and bad files.</summary>
public class EvalCommandTests
{
    private static CliRunner.TempDir ModelFolder(string caseName)
    {
        var dir = CliRunner.Temp();
        foreach (var f in new[] { "config.json", "model.safetensors" })
            File.Copy(Path.Combine(CliRunner.Reference(caseName), f), dir.File(f));
        return dir;
    }

    [Theory]
    [InlineData("linear_mamba")]
    [InlineData("mlp_transformer")]
    [InlineData("linear_remainder")]
    public void Eval_writes_the_golden_logits_and_gradients(string caseName)
    {
        using var dir = ModelFolder(caseName);
        var (code, output, error) = CliRunner.Run("eval", "--model", dir.Path, "--input-ids", Path.Combine(CliRunner.Reference(caseName), "input_ids.json"),
            "--dtype", "float64", "--logits-out", dir.File("logits.safetensors"), "--grads-out", dir.File("grads.safetensors"));
        Assert.True(code == 0, error);
        Assert.Contains("perplexity", output);
        using var expected = SafeTensorFile.Load(Path.Combine(CliRunner.Reference(caseName), "outputs.safetensors"));
        using var logits = SafeTensorFile.Load(dir.File("logits.safetensors"));
        using var grads = SafeTensorFile.Load(dir.File("grads.safetensors"));
        Assert.True(RelError(expected["logits"], logits["logits"]) < 1e-6);
        Assert.Equal(expected["loss_f64"].Item(), logits["loss"].Item(), 1e-9);
        var gradNames = expected.Keys.Where(k => k.StartsWith("grad.", StringComparison.Ordinal)).ToArray();
        Assert.Equal(gradNames.Order(), grads.Keys.Order());
        foreach (var n in gradNames) Assert.True(RelError(expected[n], grads[n]) < 1e-6, n);
    }

    private static double RelError(Tensor e, Tensor a)
    {
        var ev = e.ToDoubleArray();
        var av = a.ToDoubleArray();
        double diff = 0, max = 0;
        for (int i = 0; i < ev.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(ev[i] - av[i]));
            max = Math.Max(max, Math.Abs(ev[i]));
        }
        return max == 0 ? diff : diff / max;
    }

    [Theory]
    [InlineData(new[] { "eval" }, "missing required option --model")]
    [InlineData(new[] { "eval", "--model" }, "needs a value")]
    [InlineData(new[] { "eval", "--model", "/nonexistent", "--input-ids", "x" }, "folder not found")]
    [InlineData(new[] { "eval", "--frobnicate" }, "unknown option '--frobnicate'")]
    [InlineData(new[] { "eval", "--model", ".", "--input-ids", ".", "--dtype", "int8" }, "--dtype must be one of")]
    [InlineData(new[] { "nosuchcommand" }, "unknown command")]
    public void Bad_arguments_exit_with_code_2_and_one_line(string[] args, string message)
    {
        var (code, _, error) = CliRunner.Run(args);
        Assert.Equal(2, code);
        Assert.Contains(message, error);
        Assert.Single(error.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public void A_truncated_checkpoint_or_bad_config_gives_a_clear_error()
    {
        using var dir = ModelFolder("linear_transformer");
        var ids = Path.Combine(CliRunner.Reference("linear_transformer"), "input_ids.json");
        var weights = dir.File("model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]);
        var (code, _, error) = CliRunner.Run("eval", "--model", dir.Path, "--input-ids", ids);
        Assert.Equal(1, code);
        Assert.Contains("model.safetensors", error);

        File.WriteAllBytes(weights, bytes);
        File.WriteAllText(dir.File("config.json"), "{\"hidden_size\": 64, \"num_attention_heads\": 5}");
        (code, _, error) = CliRunner.Run("eval", "--model", dir.Path, "--input-ids", ids);
        Assert.Equal(1, code);
        Assert.Contains("not divisible", error);

        File.WriteAllText(dir.File("config.json"), "{\"hidden_size\": 64,");
        (code, _, error) = CliRunner.Run("eval", "--model", dir.Path, "--input-ids", ids);
        Assert.Equal(1, code);
        Assert.Contains("not valid JSON", error);
    }

    [Fact]
    public void Weights_with_wrong_shapes_or_missing_tensors_are_named()
    {
        using var dir = ModelFolder("linear_transformer");
        var ids = Path.Combine(CliRunner.Reference("linear_transformer"), "input_ids.json");
        var weights = dir.File("model.safetensors");
        var state = SafeTensorFile.Load(weights).ToDictionary(kv => kv.Key, kv => kv.Value);
        state.Remove("model.layers.1.seq_modeling_block.W1");
        state["model.norm.weight"] = Tensor.Ones([7]);
        SafeTensorFile.Save(weights, state);
        var (code, _, error) = CliRunner.Run("eval", "--model", dir.Path, "--input-ids", ids);
        Assert.Equal(1, code);
        Assert.Contains("model.layers.1.seq_modeling_block.W1", error);
    }
}
