// Loading a checkpoint of the official PyTorch TTT code and generating text.
//
// A checkpoint folder holds config.json (the official TTTConfig fields) and model.safetensors with the names
// TTTForCausalLM.state_dict() writes (model.layers.0.seq_modeling_block.W1, …). To get one from PyTorch:
//
//     from safetensors.torch import save_file
//     save_file({k: v.contiguous().clone() for k, v in model.state_dict().items()}, "model.safetensors")
//     model.config.to_json_file("config.json")
//
// (clone: with tied embeddings lm_head.weight and model.embed_tokens.weight share storage, which save_file refuses).
//
// This program loads such a folder, checks it on token ids stored next to it (input_ids.json, if present: the
// mean next-token loss, comparable with the loss PyTorch reports), then generates greedily with recurrent decoding
// (a prefill of the prompt, then one token at a time at constant cost) and checks that decoding agrees with
// re-running the whole sequence. With a byte-level vocabulary the ids are printed as text.
//
// Run: dotnet run -c Release --project examples/OfficialCheckpoint -- [FOLDER] [PROMPT]
// Without a folder it uses tests/fixtures/reference/linear_mamba of this repository: a small TTT-Linear model
// (Mamba backbone, 128-token vocabulary) with random weights whose loss was computed by a reference
// implementation of the official code, so its text is gibberish but its numbers can be checked.

using System.Globalization;
using System.Text;
using System.Text.Json;
using Ttt;
using Ttt.Models;

string folder = args.Length > 0 ? args[0] : FindFixture("tests/fixtures/reference/linear_mamba");
string prompt = args.Length > 1 ? args[1] : "Test-time training ";

// 1. Load: every tensor is checked against the config (missing, unexpected, wrong shape, NaN).
var model = TTTCheckpoint.Load(folder);
model.Eval();
Console.WriteLine($"loaded {folder}: {model.Config.NumHiddenLayers} layers, width {model.Config.HiddenSize}, " +
                  $"TTT-{model.Config.TttLayerType}, vocabulary {model.VocabSize}, {model.ParameterCount()} parameters");
using var noGrad = Autograd.NoGrad();

// 2. Check: the mean next-token loss on the stored ids, as PyTorch computes it.
string idsPath = Path.Combine(folder, "input_ids.json");
if (File.Exists(idsPath))
{
    var rows = JsonDocument.Parse(File.ReadAllText(idsPath)).RootElement.GetProperty("input_ids")
        .EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
    var ids = Tensor.FromArray(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]);
    double loss = CausalLM.NextTokenLoss(model.Forward(ids), ids).Item();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"loss on input_ids.json: {loss:F6}"));
}

// 3. Generate: greedy decoding through the recurrent cache (each TTT layer carries its inner model's weights).
long[] promptIds = Encoding.ASCII.GetBytes(prompt).Select(b => (long)b % model.VocabSize).ToArray();
var cache = model.NewCache(batch: 1);
var logits = model.Forward(Tensor.FromArray(promptIds, [1, promptIds.Length]), cache);
var generated = new List<long>();
for (int i = 0; i < 24; i++)
{
    long next = ArgMax(logits.Select(1, logits.Shape[1] - 1).Select(0, 0).ToDoubleArray());
    generated.Add(next);
    logits = model.Forward(Tensor.FromArray(new[] { next }, [1, 1]), cache);
}
Console.WriteLine($"prompt: {prompt}");
Console.WriteLine($"generated ids: {string.Join(" ", generated)}");
Console.WriteLine($"generated text: {AsText(generated)}");

// 4. Recurrent decoding must pick the same tokens as re-running the full sequence (teacher forcing).
var all = promptIds.Concat(generated).ToArray();
var full = model.Forward(Tensor.FromArray(all, [1, all.Length]));
bool agrees = Enumerable.Range(0, generated.Count).All(i =>
    ArgMax(full.Select(1, promptIds.Length - 1 + i).Select(0, 0).ToDoubleArray()) == generated[i]);
Console.WriteLine($"recurrent decoding agrees with the full forward: {agrees}");
return agrees ? 0 : 1;

static long ArgMax(double[] values) => Array.IndexOf(values, values.Max());

// Printable ASCII as is, anything else as \xNN.
static string AsText(IEnumerable<long> ids) =>
    string.Concat(ids.Select(id => id is >= 32 and < 127 ? ((char)id).ToString() : $"\\x{id:x2}"));

static string FindFixture(string relative)
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (Directory.Exists(Path.Combine(dir.FullName, relative))) return Path.Combine(dir.FullName, relative);
    throw new DirectoryNotFoundException($"{relative} not found above {AppContext.BaseDirectory}; pass a checkpoint folder");
}
