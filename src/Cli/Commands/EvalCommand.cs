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
    public static CommandSpec Spec { get; } = new("eval", "Evaluate a model folder on token ids: loss, perplexity, logits and gradients.",
    [
        new("--model", "DIR", "model folder with config.json and model.safetensors"),
        new("--input-ids", "FILE", "int64 input_ids [B, L] as safetensors, or JSON {\"input_ids\": [[…]]}"),
        new("--logits-out", "FILE", "write logits and loss (safetensors)"),
        new("--grads-out", "FILE", "write grad.<name> for every parameter (safetensors)"),
        new("--dtype", "TYPE", "float32 or float64", "float32"),
    ], Run);

    private static int Run(ParsedArgs a)
    {
        var modelDir = a.Required("--model");
        var idsPath = a.Required("--input-ids");
        var dtype = DTypes.Parse(a.Choice("--dtype", "float32", "float32", "float64"));
        var logitsOut = a.String("--logits-out");
        var gradsOut = a.String("--grads-out");
        if (!Directory.Exists(modelDir)) throw new UsageException($"--model: folder not found: {modelDir}");
        if (!File.Exists(idsPath)) throw new UsageException($"--input-ids: file not found: {idsPath}");

        var model = TTTCheckpoint.Load(modelDir, dtype);
        var ids = ReadInputIds(idsPath, model.Config.VocabSize);
        if (ids.Shape[1] < 2) throw new InvalidDataException($"{idsPath}: a next-token loss needs at least 2 tokens per sequence, got {ids.Shape[1]}");
        model.Eval();
        bool wantGrads = gradsOut is not null;
        Tensor logits, loss;
        using (wantGrads ? GradMode.Enable() : GradMode.Disable())
        {
            logits = model.Forward(ids);
            loss = TTTForCausalLM.Loss(logits, ids);
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
            foreach (var (name, p) in model.NamedParameters()) grads.Add(new($"grad.{name}", p.Grad ?? Tensor.ZerosLike(p)));
            // The official state dict names the tied head separately; its gradient is the shared tensor's.
            if (model.Config.TieWordEmbeddings) grads.Add(new("grad.lm_head.weight", model.HeadWeight.Grad ?? Tensor.ZerosLike(model.HeadWeight)));
            SafeTensorFile.Save(gradsOut, grads);
            Console.WriteLine($"wrote {gradsOut} ({grads.Count} gradients)");
        }
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
