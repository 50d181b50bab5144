using Ttt.Data;
using Ttt.Models;
using Ttt.Training;

namespace Ttt.Tests;

/// <summary>The training loop: loss decreases, resumption is bit-for-bit, checkpoints verify and fall back.</summary>
public class TrainerTests
{
    private static TTTConfig Tiny(int vocab) => new()
    {
        VocabSize = vocab, HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2,
        MiniBatchSize = 4, PreConv = true, ShareQk = true, UseGate = true,
    };

    private static (Trainer Trainer, TTTForCausalLM Model) Build(string dir, int steps, int checkpointEvery, ulong seed = 3, string task = "markov")
    {
        var (train, eval) = DataSources.Open(task, seed, 16);
        var model = new TTTForCausalLM(Tiny(train.VocabSize), new Generator(seed));
        var options = new TrainOptions { Steps = steps, BatchSize = 4, EvalEvery = 0, EvalBatches = 1, CheckpointEvery = checkpointEvery, PeakLr = 1e-2 };
        return (new Trainer(model, train, eval, options, dir, seed), model);
    }

    private static string TempDir() => Path.Combine(Path.GetTempPath(), "ttt-trainer-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void Resuming_from_a_checkpoint_continues_bit_for_bit()
    {
        string full = TempDir(), split = TempDir();
        try
        {
            var (t1, m1) = Build(full, 8, 0);
            t1.Run(TestContext.Current.CancellationToken);
            var (t2, _) = Build(split, 8, 4);
            var stop = new CancellationTokenSource();
            t2.OnStep = r => { if (r.Step == 4) stop.Cancel(); };
            Assert.Throws<OperationCanceledException>(() => t2.Run(stop.Token));  // "killed" after the step-4 checkpoint
            var (t3, m3) = Build(split, 8, 4);
            Assert.Equal(4, t3.Resume());
            t3.Run(TestContext.Current.CancellationToken);
            var a = m1.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor.ToFloatArray());
            foreach (var (name, p) in m3.NamedParameters())
                Assert.True(a[name].SequenceEqual(p.ToFloatArray()), $"{name} differs after resuming");
        }
        finally
        {
            foreach (var d in new[] { full, split })
                if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
        }
    }

    [Fact]
    public void A_damaged_newest_checkpoint_falls_back_to_the_previous_one()
    {
        string dir = TempDir();
        try
        {
            var (t, _) = Build(dir, 6, 2);
            t.Run(TestContext.Current.CancellationToken);
            var store = new CheckpointStore(dir);
            var list = store.List();
            Assert.Equal([6L, 4, 2], list.Select(c => c.Step));
            var weights = Path.Combine(list[0].Path, "model.safetensors");
            var bytes = File.ReadAllBytes(weights);
            bytes[^5] ^= 0x40;
            File.WriteAllBytes(weights, bytes);
            Assert.Contains("model.safetensors", CheckpointStore.Verify(list[0].Path));
            var messages = new List<string>();
            Assert.Equal(4, store.LatestValid(messages.Add)!.Value.Step);
            Assert.Contains(messages, m => m.Contains("damaged", StringComparison.Ordinal));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Non_finite_losses_skip_updates_and_stop_training_after_the_limit()
    {
        string dir = TempDir();
        try
        {
            var (train, eval) = DataSources.Open("markov", 1, 16);
            var model = new TTTForCausalLM(Tiny(train.VocabSize), new Generator(1));
            using (GradMode.Disable()) model.Model.Norm.Weight.Fill(double.NaN);
            var before = model.Model.EmbedTokens.Weight.ToFloatArray();
            var options = new TrainOptions { Steps = 10, BatchSize = 2, EvalEvery = 0, CheckpointEvery = 0, MaxNonFiniteSteps = 3 };
            var trainer = new Trainer(model, train, eval, options, dir);
            var log = new List<string>();
            trainer.Log = log.Add;
            var e = Assert.Throws<TrainingStoppedException>(() => trainer.Run(TestContext.Current.CancellationToken));
            Assert.Contains("3 consecutive updates", e.Message);
            Assert.Equal(3, trainer.SkippedSteps);
            Assert.Equal(3, log.Count(m => m.Contains("skipped", StringComparison.Ordinal)));
            Assert.Equal(before, model.Model.EmbedTokens.Weight.ToFloatArray());   // no update was applied
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_short_training_run_lowers_the_loss()
    {
        string dir = TempDir();
        try
        {
            // Byte-level text with strong bigram structure: learnable in a few dozen updates.
            var corpus = Path.Combine(dir, "corpus.txt");
            Directory.CreateDirectory(dir);
            File.WriteAllText(corpus, string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 400)));
            var (t, _) = Build(dir, 40, 0, seed: 5, task: "text:" + corpus);
            var losses = new List<double>();
            t.OnStep = r => losses.Add(r.Loss);
            double before = t.Evaluate().MeanLoss;
            var after = t.Run(TestContext.Current.CancellationToken)!;
            Assert.True(after.MeanLoss < before - 1.0, $"eval loss went from {before:F4} to {after.MeanLoss:F4}");
            Assert.True(losses.TakeLast(10).Average() < losses.Take(10).Average(), "training loss did not fall");
            Assert.True(File.Exists(Path.Combine(dir, "metrics.csv")));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
