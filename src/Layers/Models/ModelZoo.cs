using System.Text.Json.Nodes;
using Ttt.IO;

namespace Ttt.Models;

/// <summary>
/// Creates the language models the <c>ttt</c> command trains, by kind and size, and loads model folders
/// (config.json + model.safetensors) by their <c>model_type</c>.
/// </summary>
public static class ModelZoo
{
    /// <summary>Model kinds: ttt-linear, ttt-mlp, transformer, mamba.</summary>
    public static IReadOnlyList<string> Kinds { get; } = ["ttt-linear", "ttt-mlp", "transformer", "mamba"];

    /// <summary>Builders for the baselines, registered by their projects (kind → (size or config.json path, vocab, seed, dtype) → model).</summary>
    private static readonly Dictionary<string, Func<string, int, Generator, DType, CausalLM>> s_builders = [];
    private static readonly Dictionary<string, Func<string, Generator, DType, CausalLM>> s_fromConfig = [];

    static ModelZoo()
    {
        Register("transformer",
            (size, vocab, gen, dtype) => new TransformerForCausalLM(File.Exists(size) ? TransformerConfig.Load(size) : TransformerConfig.Preset(size, vocab), gen, dtype),
            (json, gen, dtype) => new TransformerForCausalLM(TransformerConfig.Parse(json), gen, dtype));
        Register("mamba",
            (size, vocab, gen, dtype) => new MambaForCausalLM(File.Exists(size) ? MambaConfig.Load(size) : MambaConfig.Preset(size, vocab), gen, dtype),
            (json, gen, dtype) => new MambaForCausalLM(MambaConfig.Parse(json), gen, dtype));
    }

    /// <summary>Registers a baseline model type (its builder from a size or config path, and from config.json text).</summary>
    public static void Register(string modelType, Func<string, int, Generator, DType, CausalLM> build, Func<string, Generator, DType, CausalLM> fromConfig)
    {
        s_builders[modelType] = build;
        s_fromConfig[modelType] = fromConfig;
    }

    /// <summary>
    /// A freshly initialized model. <paramref name="size"/> is a preset name (tiny, small, 125m, …) or a path to a
    /// config.json; <paramref name="mambaBackbone"/> applies to TTT models.
    /// </summary>
    public static CausalLM Create(string kind, string size, int vocab, ulong seed, bool mambaBackbone = true, DType dtype = DType.Float32)
    {
        var gen = new Generator(seed);
        switch (kind)
        {
            case "ttt-linear" or "ttt-mlp":
                TTTConfig config;
                if (File.Exists(size)) config = TTTConfig.Load(size);
                else config = TTTConfig.Preset(size, vocab, kind == "ttt-mlp" ? "mlp" : "linear", mambaBackbone);
                return new TTTForCausalLM(config, gen, dtype: dtype);
            default:
                if (!s_builders.TryGetValue(kind, out var build))
                    throw new ArgumentException($"unknown model kind '{kind}': expected {string.Join(", ", Kinds)}");
                return build(size, vocab, gen, dtype);
        }
    }

    /// <summary>Builds the model a config.json describes (random init; load weights afterwards).</summary>
    public static CausalLM FromConfigJson(string json, ulong seed = 0, DType dtype = DType.Float32, string source = "config.json")
    {
        var type = ModelType(json, source);
        var gen = new Generator(seed);
        if (type == "ttt") return new TTTForCausalLM(TTTConfig.Parse(json, source), gen, dtype: dtype);
        if (s_fromConfig.TryGetValue(type, out var f)) return f(json, gen, dtype);
        throw new InvalidDataException($"{source}: unknown model_type '{type}' (expected ttt, transformer or mamba)");
    }

    /// <summary>Loads a model folder: config.json + model.safetensors, validated (names, shapes, finite values).</summary>
    public static CausalLM Load(string folder, DType dtype = DType.Float32)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"model folder not found: {folder}");
        var configPath = Path.Combine(folder, TTTCheckpoint.ConfigFile);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"config not found: {configPath}", configPath);
        var info = new FileInfo(configPath);
        if (info.Length > 1 << 20) throw new InvalidDataException($"{configPath}: {info.Length} bytes is too large for a config file");
        var json = File.ReadAllText(configPath);
        if (ModelType(json, configPath) == "ttt") return TTTCheckpoint.Load(folder, dtype);
        var model = FromConfigJson(json, 0, dtype, configPath);
        var weightsPath = Path.Combine(folder, TTTCheckpoint.WeightsFile);
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"weights not found: {weightsPath}", weightsPath);
        using var weights = SafeTensorFile.Load(weightsPath, dtype, checkFinite: true);
        try
        {
            model.LoadSaved(weights.ToDictionary(kv => kv.Key, kv => kv.Value));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{weightsPath}: {e.Message}", e);
        }
        return model;
    }

    /// <summary>Writes a model folder atomically.</summary>
    public static void Save(string folder, CausalLM model)
    {
        ArgumentNullException.ThrowIfNull(model);
        Directory.CreateDirectory(folder);
        AtomicFile.WriteAllText(Path.Combine(folder, TTTCheckpoint.ConfigFile), model.ConfigJson());
        SafeTensorFile.Save(Path.Combine(folder, TTTCheckpoint.WeightsFile), model.StateToSave(), new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>The "model_type" of a config (TTT configs without one are "ttt").</summary>
    public static string ModelType(string json, string source = "config.json")
    {
        try
        {
            var node = JsonNode.Parse(json, documentOptions: new System.Text.Json.JsonDocumentOptions { AllowDuplicateProperties = false });
            if (node is not JsonObject obj) throw new InvalidDataException($"{source}: expected a JSON object at the top level");
            return obj["model_type"]?.GetValue<string>() ?? "ttt";
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidDataException($"{source}: not valid JSON ({e.Message})", e);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidDataException($"{source}: model_type must be a string ({e.Message})", e);
        }
    }
}
