using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ttt.Models;

/// <summary>
/// Configuration of the Transformer baseline ("Transformer++", Llama-style; spec §2.2–2.5) with the Hugging Face
/// <c>LlamaConfig</c> field names, read from and written to <c>config.json</c> (<c>model_type: "transformer"</c>).
/// Unknown fields are kept and written back. Defaults are the 1.3B sizes, like <see cref="TTTConfig"/>'s.
/// </summary>
public sealed class TransformerConfig
{
    /// <summary>The <c>model_type</c> written to config.json.</summary>
    public const string ModelType = "transformer";

    /// <summary>Vocabulary size V.</summary>
    public int VocabSize { get; set; } = 32000;
    /// <summary>Model width D.</summary>
    public int HiddenSize { get; set; } = 2048;
    /// <summary>SwiGLU hidden width F.</summary>
    public int IntermediateSize { get; set; } = 5504;
    /// <summary>Number of blocks L.</summary>
    public int NumHiddenLayers { get; set; } = 24;
    /// <summary>Attention heads H (head dim d = D/H).</summary>
    public int NumAttentionHeads { get; set; } = 32;
    /// <summary>Feed-forward activation (only "silu", i.e. SwiGLU, is supported).</summary>
    public string HiddenAct { get; set; } = "silu";
    /// <summary>
    /// The context length the model is meant for (the training sequence length). RoPE itself has no length limit,
    /// so longer inputs run (as in Hugging Face Llama); the value sizes the first RoPE table.
    /// </summary>
    public int MaxPositionEmbeddings { get; set; } = 2048;
    /// <summary>Std of the normal init of every dense kernel and the embedding.</summary>
    public double InitializerRange { get; set; } = 0.02;
    /// <summary>Epsilon of the RMSNorms.</summary>
    public double RmsNormEps { get; set; } = 1e-6;
    /// <summary>Tie the LM head to the embedding (the baseline does).</summary>
    public bool TieWordEmbeddings { get; set; } = true;
    /// <summary>RoPE base θ (10000; the paper also tried 500000 for long Books runs).</summary>
    public double RopeTheta { get; set; } = 10000;
    /// <summary>Beginning-of-sequence token id.</summary>
    public int? BosTokenId { get; set; } = 1;
    /// <summary>End-of-sequence token id.</summary>
    public int? EosTokenId { get; set; } = 2;
    /// <summary>Padding token id.</summary>
    public int? PadTokenId { get; set; }

    /// <summary>Fields of the file this config did not model, written back unchanged.</summary>
    public Dictionary<string, JsonNode?> Extra { get; } = [];

    /// <summary>Head dim d = D / H.</summary>
    public int HeadDim => HiddenSize / NumAttentionHeads;

    // ---------------------------------------------------------------------------------------------- presets

    /// <summary>
    /// The named sizes: <c>tiny</c> (D 64, 2 layers, 4 heads, SwiGLU 128) and <c>small</c> (D 128, 4 layers, 4 heads,
    /// SwiGLU 256), the same shapes as the TTT smoke-test presets so that runs compare like with like; then the
    /// paper's <c>125m</c>, <c>350m</c>, <c>760m</c> and <c>1.3b</c> (alias <c>1b</c>) of spec §2.4 (Table 3).
    /// All use V = 32000 (the Llama tokenizer) unless a vocabulary size is given, θ = 10000, eps 1e-6, tied head.
    /// </summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["tiny", "small", "125m", "350m", "760m", "1.3b"];

    /// <summary>A preset by name (case-insensitive); <paramref name="vocabSize"/> replaces V (e.g. the tokenizer's).</summary>
    public static TransformerConfig Preset(string name, int? vocabSize = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        (int Hidden, int Layers, int Heads, int Intermediate) sizes = name.Trim().ToLowerInvariant() switch
        {
            "tiny" => (64, 2, 4, 128),
            "small" => (128, 4, 4, 256),
            "125m" => (768, 12, 12, 2048),
            "350m" => (1024, 24, 16, 2736),
            "760m" => (1536, 24, 16, 4096),
            "1.3b" or "1b" => (2048, 24, 32, 5504),
            _ => throw new ArgumentException($"unknown transformer preset '{name}'; presets: {string.Join(", ", PresetNames)}", nameof(name)),
        };
        var config = new TransformerConfig
        {
            HiddenSize = sizes.Hidden,
            NumHiddenLayers = sizes.Layers,
            NumAttentionHeads = sizes.Heads,
            IntermediateSize = sizes.Intermediate,
        };
        if (vocabSize is { } v) config.VocabSize = v;
        config.Validate($"preset '{name}'");
        return config;
    }

    /// <summary>
    /// Number of parameters of the model this config describes: embedding V·D, per block 4·D² (q, k, v, o) + 3·D·F
    /// (SwiGLU) + 2·D (norms), the final norm D, and V·D more for an untied head.
    /// </summary>
    public long ParameterCount()
    {
        long d = HiddenSize, v = VocabSize, f = IntermediateSize;
        return v * d + NumHiddenLayers * (4 * d * d + 3 * d * f + 2 * d) + d + (TieWordEmbeddings ? 0 : v * d);
    }

    // ------------------------------------------------------------------------------------------- validation

    /// <summary>Checks ranges and consistency; throws <see cref="InvalidDataException"/> naming the field.</summary>
    public void Validate(string source = "config")
    {
        void Positive(string name, double v)
        {
            if (!(v > 0) || double.IsInfinity(v))
                throw new InvalidDataException($"{source}: {name} must be positive, got {v.ToString(CultureInfo.InvariantCulture)}");
        }
        Positive("vocab_size", VocabSize);
        Positive("hidden_size", HiddenSize);
        Positive("intermediate_size", IntermediateSize);
        Positive("num_hidden_layers", NumHiddenLayers);
        Positive("num_attention_heads", NumAttentionHeads);
        Positive("max_position_embeddings", MaxPositionEmbeddings);
        Positive("rope_theta", RopeTheta);
        Positive("rms_norm_eps", RmsNormEps);
        if (!(InitializerRange >= 0) || double.IsInfinity(InitializerRange))
            throw new InvalidDataException($"{source}: initializer_range must be ≥ 0, got {InitializerRange.ToString(CultureInfo.InvariantCulture)}");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new InvalidDataException($"{source}: hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        if (HeadDim % 2 != 0)
            throw new InvalidDataException($"{source}: head dim {HeadDim} = hidden_size {HiddenSize} / num_attention_heads {NumAttentionHeads} must be even for RoPE");
        if (HiddenAct != "silu")
            throw new InvalidDataException($"{source}: hidden_act \"{HiddenAct}\" is not supported (only \"silu\", i.e. SwiGLU)");
        const long limit = 1L << 34;
        if ((long)VocabSize * HiddenSize > limit || (long)HiddenSize * IntermediateSize > limit || NumHiddenLayers > 10000)
            throw new InvalidDataException($"{source}: sizes are absurdly large (vocab_size {VocabSize}, hidden_size {HiddenSize}, intermediate_size {IntermediateSize}, num_hidden_layers {NumHiddenLayers})");
    }

    // ----------------------------------------------------------------------------------------------- json

    private static readonly (string Name, Func<TransformerConfig, JsonNode?> Get, Action<TransformerConfig, JsonNode?> Set)[] Fields =
    [
        ("vocab_size", c => c.VocabSize, (c, n) => c.VocabSize = Required<int>(n)),
        ("hidden_size", c => c.HiddenSize, (c, n) => c.HiddenSize = Required<int>(n)),
        ("intermediate_size", c => c.IntermediateSize, (c, n) => c.IntermediateSize = Required<int>(n)),
        ("num_hidden_layers", c => c.NumHiddenLayers, (c, n) => c.NumHiddenLayers = Required<int>(n)),
        ("num_attention_heads", c => c.NumAttentionHeads, (c, n) => c.NumAttentionHeads = Required<int>(n)),
        ("hidden_act", c => c.HiddenAct, (c, n) => c.HiddenAct = Required<string>(n)),
        ("max_position_embeddings", c => c.MaxPositionEmbeddings, (c, n) => c.MaxPositionEmbeddings = Required<int>(n)),
        ("initializer_range", c => c.InitializerRange, (c, n) => c.InitializerRange = Required<double>(n)),
        ("rms_norm_eps", c => c.RmsNormEps, (c, n) => c.RmsNormEps = Required<double>(n)),
        ("tie_word_embeddings", c => c.TieWordEmbeddings, (c, n) => c.TieWordEmbeddings = Required<bool>(n)),
        ("rope_theta", c => c.RopeTheta, (c, n) => c.RopeTheta = Required<double>(n)),
        ("bos_token_id", c => c.BosTokenId, (c, n) => c.BosTokenId = n?.GetValue<int>()),
        ("eos_token_id", c => c.EosTokenId, (c, n) => c.EosTokenId = n?.GetValue<int>()),
        ("pad_token_id", c => c.PadTokenId, (c, n) => c.PadTokenId = n?.GetValue<int>()),
    ];

    /// <summary>The value of a field that may not be null.</summary>
    private static T Required<T>(JsonNode? node) => node is null ? throw new FormatException("null is not allowed here") : node.GetValue<T>();

    /// <summary>
    /// Parses config.json text; <paramref name="source"/> names the file in errors. A <c>model_type</c> other than
    /// "transformer" is an error, and so are Llama options this baseline does not implement (grouped-query
    /// attention, attention or MLP biases, RoPE scaling), rather than being silently ignored.
    /// </summary>
    public static TransformerConfig Parse(string json, string source = "config.json")
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = false, MaxDepth = 64, AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not valid JSON ({e.Message})", e);
        }
        if (root is not JsonObject obj) throw new InvalidDataException($"{source}: expected a JSON object at the top level");
        var config = new TransformerConfig();
        var known = Fields.ToDictionary(f => f.Name);
        int? keyValueHeads = null;
        foreach (var (key, value) in obj)
        {
            if (known.TryGetValue(key, out var field))
            {
                try
                {
                    field.Set(config, value);
                }
                catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException)
                {
                    throw new InvalidDataException($"{source}: field \"{key}\" has an invalid value {value?.ToJsonString() ?? "null"} ({e.Message})", e);
                }
            }
            else if (key == "num_key_value_heads")
            {
                // Checked against num_attention_heads after the loop (fields come in any order); written back from it.
                if (value is not JsonValue kv || !kv.TryGetValue<int>(out var heads))
                    throw new InvalidDataException($"{source}: num_key_value_heads has an invalid value {value?.ToJsonString() ?? "null"}");
                keyValueHeads = heads;
            }
            else if (key != "model_type" || CheckModelType(source, value))
            {
                CheckUnsupported(source, key, value);
                config.Extra[key] = value?.DeepClone();
            }
        }
        if (keyValueHeads is { } kvHeads && kvHeads != config.NumAttentionHeads)
            throw new InvalidDataException($"{source}: num_key_value_heads {kvHeads} differs from num_attention_heads {config.NumAttentionHeads}; grouped-query attention is not supported");
        config.Validate(source);
        return config;
    }

    /// <summary>Throws unless the model_type is "transformer"; returns false (the field is not kept in <see cref="Extra"/>).</summary>
    private static bool CheckModelType(string source, JsonNode? value)
    {
        if (value is not JsonValue type || !type.TryGetValue<string>(out var name) || name != ModelType)
            throw new InvalidDataException($"{source}: model_type is {value?.ToJsonString() ?? "null"}, expected \"{ModelType}\"");
        return false;
    }

    /// <summary>Llama options the baseline does not implement are errors, not silently ignored.</summary>
    private static void CheckUnsupported(string source, string key, JsonNode? value)
    {
        switch (key)
        {
            case "attention_bias" or "mlp_bias":
                if (value is JsonValue flag && flag.TryGetValue<bool>(out var on) && on)
                    throw new InvalidDataException($"{source}: {key} = true is not supported (the baseline has no biases)");
                break;
            case "rope_scaling":
                if (value is not null)
                    throw new InvalidDataException($"{source}: rope_scaling is not supported (plain RoPE on absolute positions)");
                break;
        }
    }

    /// <summary>Reads and validates a config.json file.</summary>
    public static TransformerConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"config file not found: {path}", path);
        var info = new FileInfo(path);
        if (info.Length > 1 << 20) throw new InvalidDataException($"{path}: {info.Length} bytes is too large for a config file");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>
    /// The config as JSON with the Llama field names, <c>model_type: "transformer"</c> and
    /// <c>num_key_value_heads</c> = <c>num_attention_heads</c> (plain multi-head attention, stated for Llama readers).
    /// </summary>
    public string ToJson()
    {
        var obj = new JsonObject { ["model_type"] = ModelType };
        foreach (var (name, get, _) in Fields) obj[name] = get(this);
        obj["num_key_value_heads"] = NumAttentionHeads;
        foreach (var (k, v) in Extra) obj[k] = v?.DeepClone();
        return obj.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>A copy.</summary>
    public TransformerConfig Clone() => Parse(ToJson(), "clone");
}
