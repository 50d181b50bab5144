using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Ttt.Data;
using Ttt.IO;
using Ttt.Models;
using Ttt.Training;

namespace Ttt.Tests;

/// <summary>
/// Weights that do not fit their config — a tensor missing, one extra, one of the wrong shape, NaN or ±Inf inside —
/// are refused with one error that names the file and the tensor, for every model kind (<see cref="ModelZoo.Load"/>)
/// and for a checkpoint resumed by the trainer (whose manifest verifies, so only these checks stand between the
/// damage and the run).
/// </summary>
public sealed class CheckpointConsistencyTests
{
    public static TheoryData<string, string> Damages()
    {
        var data = new TheoryData<string, string>();
        foreach (var kind in new[] { "ttt-linear", "ttt-mlp", "transformer", "mamba" })
            foreach (var damage in new[] { "missing", "extra", "shape", "nan", "inf" })
                data.Add(kind, damage);
        return data;
    }

    [Theory]
    [MemberData(nameof(Damages))]
    public void A_model_folder_whose_weights_do_not_fit_is_refused_naming_the_tensor(string kind, string damage)
    {
        var dir = TempDir();
        try
        {
            var model = ModelZoo.Create(kind, "tiny", 16, seed: 2);
            ModelZoo.Save(dir, model);
            var weightsPath = Path.Combine(dir, TTTCheckpoint.WeightsFile);

            // Intact, the folder loads back bit for bit (the baseline the damaged cases depart from).
            var loaded = ModelZoo.Load(dir);
            foreach (var ((name, a), (_, b)) in model.NamedParameters().Zip(loaded.NamedParameters()))
                Assert.True(a.ToFloatArray().SequenceEqual(b.ToFloatArray()), $"{name} differs after a save and load");

            string tensor = Damage(weightsPath, damage, new Random(kind.Length * 31 + damage.Length));
            var e = Assert.ThrowsAny<Exception>(() => ModelZoo.Load(dir));
            Assert.True(e is InvalidDataException or SafeTensorsFormatException, $"{e.GetType().Name}: {e.Message}");
            Assert.Contains(weightsPath, e.Message, StringComparison.Ordinal);
            Assert.Contains(tensor, e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("model.safetensors", "missing")]
    [InlineData("model.safetensors", "shape")]
    [InlineData("model.safetensors", "nan")]
    [InlineData("optimizer.safetensors", "missing")]
    [InlineData("optimizer.safetensors", "shape")]
    [InlineData("optimizer.safetensors", "inf")]
    public void Resuming_from_a_checkpoint_that_does_not_fit_is_refused_naming_the_tensor(string file, string damage)
    {
        var dir = TempDir();
        try
        {
            var (train, eval) = DataSources.Open("markov", 1, 16);
            var options = new TrainOptions { Steps = 2, BatchSize = 2, EvalEvery = 0, CheckpointEvery = 1 };
            var model = ModelZoo.Create("ttt-linear", "tiny", train.VocabSize, 1);
            new Trainer(model, train, eval, options, dir, 1).Run(TestContext.Current.CancellationToken);
            var store = new CheckpointStore(dir);
            var (_, checkpoint) = store.List()[0];
            var path = Path.Combine(checkpoint, file);
            string tensor = Damage(path, damage, new Random(7));
            Rehash(checkpoint); // the manifest matches: the damage was written by someone, not by a crash

            Assert.Null(CheckpointStore.Verify(checkpoint));
            var (train2, eval2) = DataSources.Open("markov", 1, 16);
            var trainer = new Trainer(ModelZoo.Create("ttt-linear", "tiny", train2.VocabSize, 1), train2, eval2, options, dir, 1);
            var e = Assert.ThrowsAny<Exception>(() => trainer.Resume());
            Assert.True(e is InvalidDataException or SafeTensorsFormatException, $"{e.GetType().Name}: {e.Message}");
            Assert.Contains(path, e.Message, StringComparison.Ordinal);
            Assert.Contains(tensor, e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Damages one tensor of a safetensors file (or adds one); returns the name an error must give.</summary>
    private static string Damage(string path, string damage, Random random)
    {
        Dictionary<string, Tensor> state;
        using (var file = SafeTensorFile.Load(path)) state = file.ToDictionary(kv => kv.Key, kv => kv.Value);
        // A tied head's copy may be left out (the official state dict has it, the model does not need it).
        var names = state.Keys.Where(n => damage != "missing" || n != "lm_head.weight").Order(StringComparer.Ordinal).ToList();
        string name = names[random.Next(names.Count)];
        switch (damage)
        {
            case "missing":
                state.Remove(name);
                break;
            case "extra":
                name = "model.layers.0.unexpected.weight";
                state[name] = Tensor.Ones([3]);
                break;
            case "shape":
                {
                    var shape = state[name].ShapeArray();
                    if (shape.Length == 0) shape = [1];
                    shape[^1]++;
                    state[name] = Tensor.Zeros(shape);
                    break;
                }
            default:
                {
                    var values = state[name].ToDoubleArray();
                    values[random.Next(values.Length)] = damage == "nan" ? double.NaN : random.Next(2) == 0 ? double.PositiveInfinity : double.NegativeInfinity;
                    state[name] = Tensor.FromArray(values, state[name].ShapeArray()).To(state[name].DType);
                    break;
                }
        }
        SafeTensorFile.Save(path, state);
        return name;
    }

    /// <summary>Rewrites a checkpoint's manifest for its current files.</summary>
    private static void Rehash(string checkpoint)
    {
        var manifestPath = Path.Combine(checkpoint, "manifest.json");
        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!.AsObject();
        var files = manifest["files"]!.AsObject();
        foreach (var name in files.Select(f => f.Key).ToList())
        {
            using var stream = File.OpenRead(Path.Combine(checkpoint, name));
            files[name] = Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        File.WriteAllText(manifestPath, manifest.ToJsonString());
    }

    private static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "ttt-consistency-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}

/// <summary>What a killed writer leaves in a run folder is removed, what a running one is writing is not.</summary>
public sealed class CheckpointLeftoverTests
{
    [Fact]
    public void Leftovers_of_finished_processes_are_removed_and_those_of_running_ones_kept()
    {
        var dir = Path.Combine(Path.GetTempPath(), "ttt-leftovers-" + Guid.NewGuid().ToString("N"));
        using var running = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        var finished = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("true") { UseShellExecute = false })!;
        finished.WaitForExit();
        int deadPid = finished.Id;
        finished.Dispose();
        try
        {
            var store = new CheckpointStore(dir);
            string Make(string name)
            {
                var path = Path.Combine(store.Folder, name);
                Directory.CreateDirectory(path);
                File.WriteAllText(Path.Combine(path, "model.safetensors"), "partial");
                return path;
            }
            var dead = Make($".tmp-step-0000003-{deadPid}");
            var deadOld = Make($".old-step-0000001-{deadPid}");
            var live = Make($".tmp-step-0000004-{running.Id}");
            var checkpoint = Make("step-0000002");
            var atomicLeftover = Path.Combine(dir, ".metrics.csv.0123456789abcdef.tmp");
            File.WriteAllText(atomicLeftover, "step,lo");
            File.WriteAllText(Path.Combine(dir, "metrics.csv"), "step\n");

            var messages = new List<string>();
            Assert.Equal(3, store.RemoveLeftovers(messages.Add));
            Assert.False(Directory.Exists(dead));
            Assert.False(Directory.Exists(deadOld));
            Assert.False(File.Exists(atomicLeftover));
            Assert.True(Directory.Exists(live));           // another process is still writing it
            Assert.True(Directory.Exists(checkpoint));     // checkpoints are never leftovers, even damaged ones
            Assert.True(File.Exists(Path.Combine(dir, "metrics.csv")));
            Assert.Contains(messages, m => m.Contains("leftover", StringComparison.Ordinal));
        }
        finally
        {
            running.Kill();
            running.WaitForExit();
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
