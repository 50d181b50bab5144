using System.Globalization;
using System.Text.Json;
using Ttt.IO;
using Ttt.Models;

namespace Ttt.Cli.Commands;

/// <summary>
/// <c>ttt eval</c>: loads a model folder (config.json + model.safetensors), runs token ids through it and reports the
/// mean next-token loss and perplexity; optionally writes the logits and the gradient of the loss with respect to
/// every parameter, under the checkpoint's own names.
/// </summary>
public static class EvalCommand
{
    /// <summary>The command's definition.</summary>
    public static CommandSpec Spec { get; } = new("eval",
        "Evaluate a model folder: on held-out data (loss, perplexity, loss by token position as CSV and PNG), or on given token ids (loss, logits, gradients).",
    [
        new("--model", "DIR", "model folder with config.json and model.safetensors (a run folder of ttt train)"),
        new("--data", "TASK", "markov, mqar or text:PATH", "the run's data (train_args.json), else markov"),
        new("--seq-len", "N", "tokens per sequence", "the run's, else 256"),
        new("--tokenizer", "NAME", "byte or gpt2 for text data", "the run's, else byte"),
        new("--batches", "N", "held-out batches", "32"),
        new("--batch", "N", "sequences per batch", "8"),
        new("--seed", "N", "data seed", "the run's, else 0"),
        new("--out", "DIR", "where loss_by_position.csv/png go", "the model folder"),
        new("--input-ids", "FILE", "evaluate these int64 input_ids [B, L] instead (safetensors, or JSON {\"input_ids\": [[…]]})"),
        new("--logits-out", "FILE", "with --input-ids: write logits and loss (safetensors)"),
        new("--grads-out", "FILE", "with --input-ids: write grad.<name> for every parameter (safetensors)"),
        new("--dtype", "TYPE", "float32 or float64", "float32"),
        new("--threads", "N", "CPU threads", "all cores"),
        .. DeviceOption.Specs,
    ], Run);

    private static int Run(ParsedArgs a)
    {
        var modelDir = a.Required("--model");
        if (a.Given("--threads")) Ttt.Cpu.CpuParallel.Threads = a.Int("--threads", Environment.ProcessorCount, 1, 1024);
        if (!a.Given("--input-ids")) return RunOnData(a, modelDir);
        var idsPath = a.Required("--input-ids");
        var dtype = DTypes.Parse(a.Choice("--dtype", "float32", "float32", "float64"));
        var logitsOut = a.String("--logits-out");
        var gradsOut = a.String("--grads-out");
        if (!Directory.Exists(modelDir)) throw new UsageException($"--model: folder not found: {modelDir}");
        if (!File.Exists(idsPath)) throw new UsageException($"--input-ids: file not found: {idsPath}");

        var device = DeviceOption.Resolve(a);
        var model = ModelZoo.Load(modelDir, dtype);
        model.To(device);
        var ids = ReadInputIds(idsPath, model.VocabSize).To(device);
        if (ids.Shape[1] < 2) throw new InvalidDataException($"{idsPath}: a next-token loss needs at least 2 tokens per sequence, got {ids.Shape[1]}");
        model.Eval();
        bool wantGrads = gradsOut is not null;
        Tensor logits, loss;
        using (wantGrads ? GradMode.Enable() : GradMode.Disable())
        {
            logits = model.Forward(ids);
            loss = CausalLM.NextTokenLoss(logits, ids);
        }
        double value = loss.Item();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"loss {value:F6}  perplexity {Math.Exp(value):F4}  ({ids.Shape[0]}×{ids.Shape[1]} tokens, {dtype.Name()})"));
        if (logitsOut is not null)
        {
            SafeTensorFile.Save(logitsOut, [new("logits", logits.Detach()), new("loss", loss.Detach())]);
            Console.WriteLine($"wrote {logitsOut}");
        }
        if (gradsOut is not null)
        {
            loss.Backward();
            var grads = new List<KeyValuePair<string, Tensor>>();
            // Every tensor of the checkpoint gets its gradient under its own name; a tied head is saved under its
            // own name too and shares the embedding's tensor, hence its gradient.
            foreach (var (name, p) in model.StateToSave())
            {
                var source = model.NamedParameters().FirstOrDefault(x => ReferenceEquals(x.Tensor.Storage, p.Storage)).Tensor;
                grads.Add(new($"grad.{name}", source?.Grad ?? Tensor.ZerosLike(p)));
            }
            SafeTensorFile.Save(gradsOut, grads);
            Console.WriteLine($"wrote {gradsOut} ({grads.Count} gradients)");
        }
        return 0;
    }

    private static int RunOnData(ParsedArgs a, string modelDir)
    {
        if (a.Given("--logits-out") || a.Given("--grads-out")) throw new UsageException("--logits-out and --grads-out need --input-ids");
        var saved = RunSettings.TryLoad(modelDir) ?? new RunSettings();
        var settings = saved with
        {
            Data = a.String("--data", saved.Data)!,
            SeqLen = a.Int("--seq-len", saved.SeqLen, 2, 1 << 20),
            Tokenizer = a.Choice("--tokenizer", saved.Tokenizer, "byte", "gpt2"),
            Seed = (ulong)a.Int("--seed", (int)saved.Seed, 0),
        };
        if (settings.Data is not ("markov" or "mqar") && !settings.Data.StartsWith("text:", StringComparison.Ordinal))
            throw new UsageException($"--data must be markov, mqar or text:PATH; got '{settings.Data}'");
        int batches = a.Int("--batches", 32, 1), batch = a.Int("--batch", 8, 1, 1 << 16);
        var dtype = DTypes.Parse(a.Choice("--dtype", "float32", "float32", "float64"));
        var outDir = a.String("--out", modelDir)!;
        var display = Reporting.ProgressDisplay.ForConsole(1);
        var device = DeviceOption.Resolve(a);
        var model = ModelZoo.Load(modelDir, dtype);
        model.To(device);
        var (train, eval) = Data.DataSources.Open(settings.Data, settings.Seed, settings.SeqLen, settings.DataOptions(display.Message));
        if (train.VocabSize > model.VocabSize)
            throw new InvalidDataException($"the data uses {train.VocabSize} token ids but the model's vocabulary has {model.VocabSize}");
        var result = Training.Evaluation.Run(model, eval, batches, batch, device, TrainCommand.Reference(eval));
        var unigram = TrainCommand.UnigramLoss(settings, train.VocabSize, batch, eval, batches);
        Directory.CreateDirectory(outDir);
        TrainCommand.Report(outDir, settings, result, unigram, display);
        display.Message($"wrote {Path.Combine(outDir, "loss_by_position.csv")} and loss_by_position.png");
        return 0;
    }

    /// <summary>Reads int64 ids [B, L] from safetensors (tensor "input_ids") or JSON; checks them against the vocabulary.</summary>
    public static Tensor ReadInputIds(string path, int vocab)
    {
        Tensor ids;
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length > 0 && (bytes[0] == (byte)'{' || bytes[0] == (byte)'[') && path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            ids = FromJson(bytes, path);
        else
        {
            using var file = SafeTensorFile.Read(bytes, path);
            if (!file.TryGetValue("input_ids", out var t)) throw new InvalidDataException($"{path}: no tensor named 'input_ids'");
            ids = t;
        }
        if (ids.DType != DType.Int64) throw new InvalidDataException($"{path}: input_ids must be int64, got {ids.DType.Name()}");
        if (ids.Rank == 1) ids = ids.Unsqueeze(0);
        if (ids.Rank != 2 || ids.Numel == 0) throw new InvalidDataException($"{path}: input_ids must be a non-empty [B, L] array, got shape {ShapeUtil.Format(ids.Shape)}");
        foreach (var v in ids.ToLongArray())
            if (v < 0 || v >= vocab) throw new InvalidDataException($"{path}: token id {v} is outside the vocabulary [0, {vocab})");
        return ids;
    }

    private static Tensor FromJson(byte[] bytes, string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
                root = root.TryGetProperty("input_ids", out var inner) ? inner : throw new InvalidDataException($"{path}: no \"input_ids\" field");
            if (root.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{path}: input_ids must be an array");
            var rows = root.EnumerateArray().ToList();
            bool flat = rows.Count > 0 && rows[0].ValueKind == JsonValueKind.Number;
            var lists = flat ? [rows] : rows.Select(r => r.ValueKind == JsonValueKind.Array ? r.EnumerateArray().ToList() : throw new InvalidDataException($"{path}: input_ids rows must be arrays")).ToList();
            int len = lists.Count == 0 ? 0 : lists[0].Count;
            if (lists.Any(r => r.Count != len)) throw new InvalidDataException($"{path}: input_ids rows have different lengths");
            var data = new long[lists.Count * len];
            for (int i = 0; i < lists.Count; i++)
                for (int j = 0; j < len; j++)
                    data[i * len + j] = lists[i][j].TryGetInt64(out var v) ? v : throw new InvalidDataException($"{path}: input_ids[{i}][{j}] is not an integer");
            return Tensor.FromArray(data, [lists.Count, len]);
        }
    }
}
