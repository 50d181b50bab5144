namespace Ttt.Tests;

/// <summary>ttt train / eval / generate end to end on tiny settings, and their guards.</summary>
public class TrainCommandTests
{
    private static string[] TinyTrain(string outDir, params string[] extra) =>
        ["train", "--steps", "4", "--seq-len", "32", "--batch", "2", "--eval-every", "2", "--eval-batches", "1",
         "--final-eval-batches", "2", "--checkpoint-every", "2", "--out", outDir, .. extra];

    [Fact]
    public void Train_writes_the_run_folder_and_eval_and_generate_use_it()
    {
        using var dir = CliRunner.Temp();
        var run = dir.File("run");
        var (code, output, error) = CliRunner.Run(TinyTrain(run));
        Assert.True(code == 0, error + output);
        foreach (var f in new[] { "config.json", "model.safetensors", "metrics.csv", "loss_by_position.csv", "loss_by_position.png", "train_args.json" })
            Assert.True(File.Exists(Path.Combine(run, f)), $"{f} is missing");
        Assert.Contains("Bayes-optimal", output);
        Assert.Contains("unigram", output);
        var metrics = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        Assert.Equal(5, metrics.Length);                        // header + 4 steps
        var png = File.ReadAllBytes(Path.Combine(run, "loss_by_position.png"));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        var csv = File.ReadAllLines(Path.Combine(run, "loss_by_position.csv"));
        Assert.Equal(33, csv.Length);                           // header + 32 positions
        Assert.StartsWith("position,", csv[0]);

        (code, output, error) = CliRunner.Run("eval", "--model", run, "--batches", "2", "--out", dir.File("eval"));
        Assert.True(code == 0, error);
        Assert.Contains("perplexity", output);
        Assert.True(File.Exists(Path.Combine(dir.File("eval"), "loss_by_position.png")));

        (code, output, error) = CliRunner.Run("generate", "--model", run, "--prompt-ids", "1 2 3", "--tokens", "5", "--seed", "1");
        Assert.True(code == 0, error);
        var ids = output.Trim().Split(' ').Select(long.Parse).ToArray();
        Assert.Equal(5, ids.Length);
        Assert.All(ids, id => Assert.InRange(id, 0, 15));
    }

    [Fact]
    public void A_second_run_into_the_same_folder_is_refused_and_resume_continues()
    {
        using var dir = CliRunner.Temp();
        var run = dir.File("run");
        Assert.Equal(0, CliRunner.Run(TinyTrain(run)).Code);
        var (code, _, error) = CliRunner.Run(TinyTrain(run));
        Assert.Equal(2, code);
        Assert.Contains("--resume", error);
        (code, var output, error) = CliRunner.Run(TinyTrain(run, "--resume").Select(a => a == "4" ? "6" : a).ToArray());
        Assert.True(code == 0, error);
        Assert.Contains("resumed from step-0000004", output);
    }

    [Fact]
    public void A_folder_locked_by_a_live_process_is_refused()
    {
        using var dir = CliRunner.Temp();
        var run = dir.File("run");
        Directory.CreateDirectory(run);
        using var other = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        try
        {
            File.WriteAllText(Path.Combine(run, ".lock"), other.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var (code, _, error) = CliRunner.Run(TinyTrain(run));
            Assert.Equal(2, code);
            Assert.Contains("in use by another ttt process", error);
        }
        finally
        {
            other.Kill();
        }
        // Once that process is gone the lock is stale and taken over.
        other.WaitForExit();
        var (code2, output2, error2) = CliRunner.Run(TinyTrain(run));
        Assert.True(code2 == 0, error2);
        Assert.Contains("stale lock", output2);
        Assert.False(File.Exists(Path.Combine(run, ".lock")));
    }

    [Theory]
    [InlineData(new[] { "train", "--steps", "0" }, "--steps must be in")]
    [InlineData(new[] { "train", "--model", "gpt" }, "--model must be one of")]
    [InlineData(new[] { "train", "--data", "imagenet" }, "--data must be markov, mqar or text:PATH")]
    [InlineData(new[] { "train", "--data", "text:/no/such/file" }, "no such file or folder")]
    [InlineData(new[] { "train", "--size", "huge" }, "--size must be one of")]
    [InlineData(new[] { "train", "--lr", "abc" }, "--lr expects a number")]
    [InlineData(new[] { "generate", "--model", "/no/such/dir" }, "folder not found")]
    public void Train_and_generate_validate_their_arguments(string[] args, string message)
    {
        var (code, _, error) = CliRunner.Run(args);
        Assert.Equal(2, code);
        Assert.Contains(message, error);
    }
}

/// <summary>Every model kind trains, saves, loads and decodes through the command line.</summary>
public class EveryModelTrainsTests
{
    [Theory]
    [InlineData("ttt-linear", "mamba")]
    [InlineData("ttt-linear", "transformer")]
    [InlineData("ttt-mlp", "mamba")]
    [InlineData("transformer", "mamba")]
    [InlineData("mamba", "mamba")]
    public void Train_eval_and_generate_work_for(string model, string backbone)
    {
        using var dir = CliRunner.Temp();
        var run = dir.File("run");
        var (code, output, error) = CliRunner.Run("train", "--model", model, "--backbone", backbone, "--steps", "2", "--seq-len", "24",
            "--batch", "2", "--eval-every", "0", "--final-eval-batches", "1", "--out", run);
        Assert.True(code == 0, error + output);
        (code, _, error) = CliRunner.Run("eval", "--model", run, "--batches", "1", "--out", dir.File("e"));
        Assert.True(code == 0, error);
        (code, output, error) = CliRunner.Run("generate", "--model", run, "--prompt-ids", "3", "--tokens", "3", "--temperature", "0");
        Assert.True(code == 0, error);
        Assert.Equal(3, output.Trim().Split(' ').Length);
    }
}
