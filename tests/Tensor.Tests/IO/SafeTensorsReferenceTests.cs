using System.Text.Json;
using Ttt.IO;
using Xunit;

namespace Ttt.Tests;

/// <summary>
/// Reads the golden files written by the libtorch reference implementation and checks them against the facts
/// stated beside them (input_ids.json, config.json, meta.json, the fixture README), not against values copied
/// from this reader's own output.
/// </summary>
public sealed class SafeTensorsReferenceTests
{
    public static TheoryData<string> Files() => new(ReferenceFixtures.SafeTensorFiles());

    public static TheoryData<string> ModelCases() => new(ReferenceFixtures.Cases().Where(c => Meta(c).GetProperty("kind").GetString() == "model"));

    public static TheoryData<string> LayerCases() => new(ReferenceFixtures.Cases().Where(c => Meta(c).GetProperty("kind").GetString() == "layer"));

    [Fact]
    public void FixtureFolderHoldsEveryDocumentedCase()
    {
        // The README lists 8 cases with 3 files each; a missing file would silently shrink the theories below.
        Assert.Equal(8, ReferenceFixtures.Cases().Count());
        Assert.Equal(24, ReferenceFixtures.SafeTensorFiles().Count());
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void EveryReferenceFileLoadsWithFiniteValues(string file)
    {
        string path = ReferenceFixtures.PathOf(file);
        using var loaded = SafeTensorFile.Load(path, checkFinite: true);
        Assert.NotEmpty(loaded);
        Assert.Equal(path, loaded.SourceName);
        foreach (var entry in loaded.Entries)
        {
            var tensor = loaded[entry.Name];
            Assert.Equal(entry.Name, tensor.Name);
            Assert.Equal(entry.Shape.ToArray(), tensor.ShapeArray());
            Assert.Equal(entry.DType.NaturalDType(), tensor.DType);
            // The README: weights and inputs float32, token ids int64, only loss_f64/objective float64.
            Assert.Contains(entry.DType, new[] { SafeTensorDType.F32, SafeTensorDType.F64, SafeTensorDType.I64 });
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void LazyOpenGivesTheSameTensorsAsLoad(string file)
    {
        string path = ReferenceFixtures.PathOf(file);
        using var eager = SafeTensorFile.Load(path);
        using var lazy = SafeTensorFile.Open(path);
        Assert.Equal(eager.Keys, lazy.Keys);
        // Read in reverse header order so that lazy reads are not merely sequential.
        foreach (var name in eager.Keys.Reverse())
            AssertSameBits(eager[name], lazy[name]);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void RewritingAReferenceFileReproducesItByteForByte(string file)
    {
        // The writer promises the reference layout (sorted keys, metadata first, space padding, data in key
        // order): loading and saving again must give back the reference bytes exactly.
        string path = ReferenceFixtures.PathOf(file);
        using var loaded = SafeTensorFile.Load(path);
        using var written = new MemoryStream();
        SafeTensorFile.Write(written, loaded, loaded.Metadata);
        Assert.Equal(File.ReadAllBytes(path), written.ToArray());
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void ConvertToFloat64WidensFloatsExactlyAndKeepsIds(string file)
    {
        string path = ReferenceFixtures.PathOf(file);
        using var plain = SafeTensorFile.Load(path);
        using var wide = SafeTensorFile.Load(path, DType.Float64);
        foreach (var (name, tensor) in plain)
        {
            var converted = wide[name];
            if (tensor.DType == DType.Int64)
            {
                Assert.Equal(DType.Int64, converted.DType);
                Assert.Equal(tensor.ToLongArray(), converted.ToLongArray());
                continue;
            }
            Assert.Equal(DType.Float64, converted.DType);
            Assert.Equal(tensor.ToDoubleArray(), converted.ToDoubleArray());
        }
    }

    [Theory]
    [MemberData(nameof(ModelCases))]
    public void InputIdsMatchTheJsonCopyAndTheCaseSizes(string name)
    {
        var meta = Meta(name);
        int batch = meta.GetProperty("batch").GetInt32(), length = meta.GetProperty("seq_len").GetInt32();
        using var inputs = SafeTensorFile.Load(ReferenceFixtures.PathOf(name, "inputs.safetensors"));

        using var json = JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.PathOf(name, "input_ids.json")));
        var rows = json.RootElement.GetProperty("input_ids").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
        var ids = inputs["input_ids"];
        Assert.Equal(DType.Int64, ids.DType);
        Assert.Equal([batch, length], ids.ShapeArray());
        Assert.Equal(rows.SelectMany(r => r).ToArray(), ids.ToLongArray());
        Assert.Equal(ids.ToLongArray(), inputs["labels"].ToLongArray()); // README: labels are identical to input_ids

        int vocab = Config(name).GetProperty("vocab_size").GetInt32();
        Assert.All(ids.ToLongArray(), id => Assert.InRange(id, 0, vocab - 1));
    }

    [Theory]
    [MemberData(nameof(ModelCases))]
    public void ModelWeightShapesFollowTheConfig(string name)
    {
        var config = Config(name);
        int vocab = config.GetProperty("vocab_size").GetInt32();
        int width = config.GetProperty("hidden_size").GetInt32();
        int inner = config.GetProperty("intermediate_size").GetInt32();
        int heads = config.GetProperty("num_attention_heads").GetInt32();
        int layers = config.GetProperty("num_hidden_layers").GetInt32();
        int kernel = config.GetProperty("conv_kernel").GetInt32();
        int headDim = width / heads;
        bool mlp = config.GetProperty("ttt_layer_type").GetString() == "mlp";
        using var model = SafeTensorFile.Load(ReferenceFixtures.PathOf(name, "model.safetensors"));

        Assert.Equal([vocab, width], model["model.embed_tokens.weight"].ShapeArray());
        Assert.Equal([vocab, width], model["lm_head.weight"].ShapeArray());
        Assert.Equal([width], model["model.norm.weight"].ShapeArray());
        if (config.GetProperty("tie_word_embeddings").GetBoolean())
            Assert.Equal(model["model.embed_tokens.weight"].ToFloatArray(), model["lm_head.weight"].ToFloatArray());

        var layerIndices = model.Keys.Where(k => k.StartsWith("model.layers.", StringComparison.Ordinal))
            .Select(k => int.Parse(k.Split('.')[2], System.Globalization.CultureInfo.InvariantCulture)).Distinct().Order();
        Assert.Equal(Enumerable.Range(0, layers), layerIndices);
        for (int i = 0; i < layers; i++)
        {
            string block = $"model.layers.{i}.seq_modeling_block.";
            Assert.Equal([width, width], model[block + "q_proj.weight"].ShapeArray());
            Assert.Equal([width, width], model[block + "o_proj.weight"].ShapeArray());
            Assert.Equal(!config.GetProperty("share_qk").GetBoolean(), model.ContainsKey(block + "k_proj.weight"));
            Assert.Equal(config.GetProperty("use_gate").GetBoolean(), model.ContainsKey(block + "g_proj.weight"));
            // TTT-Linear: one d×d matrix per head; TTT-MLP: d → 4d → d.
            int hidden = mlp ? 4 * headDim : headDim;
            Assert.Equal([heads, headDim, hidden], model[block + "W1"].ShapeArray());
            Assert.Equal([heads, 1, hidden], model[block + "b1"].ShapeArray());
            Assert.Equal(mlp, model.ContainsKey(block + "W2"));
            Assert.Equal([heads, 1, width], model[block + "learnable_ttt_lr_weight"].ShapeArray());
            Assert.Equal([heads, 1], model[block + "learnable_ttt_lr_bias"].ShapeArray());
            Assert.Equal([heads, headDim], model[block + "ttt_norm_weight"].ShapeArray());
            Assert.Equal([inner, width], model[$"model.layers.{i}.mlp.gate_proj.weight"].ShapeArray());
            Assert.Equal([inner, width], model[$"model.layers.{i}.mlp.up_proj.weight"].ShapeArray());
            Assert.Equal([width, inner], model[$"model.layers.{i}.mlp.down_proj.weight"].ShapeArray());
            if (config.GetProperty("pre_conv").GetBoolean())
                Assert.Equal([width, 1, kernel], model[$"model.layers.{i}.conv.conv.weight"].ShapeArray());
        }
    }

    [Theory]
    [MemberData(nameof(ModelCases))]
    public void OutputsMatchMetaAndHaveOneGradientPerParameter(string name)
    {
        var meta = Meta(name);
        var config = Config(name);
        int batch = meta.GetProperty("batch").GetInt32(), length = meta.GetProperty("seq_len").GetInt32();
        int vocab = config.GetProperty("vocab_size").GetInt32(), width = config.GetProperty("hidden_size").GetInt32();
        using var model = SafeTensorFile.Load(ReferenceFixtures.PathOf(name, "model.safetensors"));
        using var outputs = SafeTensorFile.Load(ReferenceFixtures.PathOf(name, "outputs.safetensors"));

        var lossF64 = outputs["loss_f64"];
        Assert.Equal(DType.Float64, lossF64.DType);
        Assert.Empty(lossF64.ShapeArray());
        // meta.json prints the same double in shortest round-trip form, so equality is exact.
        Assert.Equal(meta.GetProperty("loss").GetDouble(), lossF64.Item());
        // The float32 loss is the float64 reference result stored as float32 (README).
        Assert.Equal((float)lossF64.Item(), (float)outputs["loss"].Item());

        Assert.Equal([batch, length, vocab], outputs["logits"].ShapeArray());
        int layers = config.GetProperty("num_hidden_layers").GetInt32();
        for (int i = 0; i < layers; i++)
            Assert.Equal([batch, length, width], outputs[$"hidden_states.{i}"].ShapeArray());
        foreach (var parameter in model.Entries)
            Assert.Equal(parameter.Shape.ToArray(), outputs["grad." + parameter.Name].ShapeArray());
        Assert.Equal(model.Count, outputs.Keys.Count(k => k.StartsWith("grad.", StringComparison.Ordinal)));
    }

    [Theory]
    [MemberData(nameof(LayerCases))]
    public void LayerObjectiveIsTheStoredOutputDottedWithGradOutput(string name)
    {
        var meta = Meta(name);
        int batch = meta.GetProperty("batch").GetInt32(), length = meta.GetProperty("seq_len").GetInt32();
        int width = Config(name).GetProperty("hidden_size").GetInt32();
        using var inputs = SafeTensorFile.Load(ReferenceFixtures.PathOf(name, "inputs.safetensors"));
        using var outputs = SafeTensorFile.Load(ReferenceFixtures.PathOf(name, "outputs.safetensors"));

        Assert.Equal([batch, length, width], inputs["hidden_states"].ShapeArray());
        Assert.Equal([1, length], inputs["position_ids"].ShapeArray());
        Assert.Equal(Enumerable.Range(0, length).Select(i => (long)i), inputs["position_ids"].ToLongArray());

        var objective = outputs["objective"];
        Assert.Equal(DType.Float64, objective.DType);
        Assert.Equal(meta.GetProperty("objective").GetDouble(), objective.Item());

        // objective = Σ output ⊙ grad_output in float64 over the unrounded output. The stored output is that value
        // rounded to float32 (relative error ≤ 2^-24 each), so the sum over the stored values may differ by at most
        // 2^-24 · Σ|output ⊙ grad_output|, plus float64 summation error, negligible at this size (2^-53 · n).
        var output = outputs["output"].ToDoubleArray();
        var gradOutput = inputs["grad_output"].ToDoubleArray();
        double sum = 0, magnitude = 0;
        for (int i = 0; i < output.Length; i++)
        {
            sum += output[i] * gradOutput[i];
            magnitude += Math.Abs(output[i] * gradOutput[i]);
        }
        Assert.True(Math.Abs(sum - objective.Item()) <= magnitude * (Math.Pow(2, -24) + output.Length * Math.Pow(2, -53)),
            $"Σ output·grad_output = {sum:R}, objective = {objective.Item():R}, bound {magnitude * Math.Pow(2, -24):R}");
    }

    private static JsonElement Meta(string name) => ReadJson(ReferenceFixtures.PathOf(name, "meta.json"));

    private static JsonElement Config(string name) => ReadJson(ReferenceFixtures.PathOf(name, "config.json"));

    private static JsonElement ReadJson(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.Clone();
    }

    internal static void AssertSameBits(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.DType, actual.DType);
        Assert.Equal(expected.ShapeArray(), actual.ShapeArray());
        switch (expected.DType)
        {
            case DType.Float32:
                Assert.Equal(expected.ToFloatArray().Select(BitConverter.SingleToInt32Bits), actual.ToFloatArray().Select(BitConverter.SingleToInt32Bits));
                break;
            case DType.Float64:
                Assert.Equal(expected.ToDoubleArray().Select(BitConverter.DoubleToInt64Bits), actual.ToDoubleArray().Select(BitConverter.DoubleToInt64Bits));
                break;
            default:
                Assert.Equal(expected.ToLongArray(), actual.ToLongArray());
                break;
        }
    }
}
