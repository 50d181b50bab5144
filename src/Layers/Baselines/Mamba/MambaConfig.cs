using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ttt.Models;

/// <summary>
/// Configuration of the Mamba-1 baseline language model (Gu &amp; Dao 2023), read from and written to
/// <c>config.json</c> with <c>model_type: "mamba"</c>. Field names follow <c>mamba_ssm</c>'s <c>MambaConfig</c>
/// and <c>Mamba</c> module: <c>d_model</c>, <c>n_layer</c>, <c>vocab_size</c>, <c>d_state</c>, <c>d_conv</c>,
/// <c>expand</c>, <c>dt_rank</c> ("auto" = ⌈d_model/16⌉), <c>rms_norm</c>, <c>norm_epsilon</c>,
/// <c>tie_embeddings</c>, <c>dt_min</c>, <c>dt_max</c>, <c>dt_init_floor</c>, <c>pad_vocab_size_multiple</c>.
/// The SSM fields are also accepted inside an <c>ssm_cfg</c> object, where <c>mamba_ssm</c> keeps them; they are
/// written back at the top level. Other unknown fields are kept and written back unchanged.
/// </summary>
/// <remarks>
/// Differences from <c>mamba_ssm</c> defaults: <c>pad_vocab_size_multiple</c> defaults to 1 (no padding) rather
/// than 8, so that the logits' width is the configured vocabulary unless a config asks for padding.
/// </remarks>
public sealed class MambaConfig
{
    /// <summary>Model width D.</summary>
    public int DModel { get; set; } = 768;
    /// <summary>Number of residual Mamba blocks.</summary>
    public int NLayer { get; set; } = 24;
    /// <summary>Vocabulary size V (before padding).</summary>
    public int VocabSize { get; set; } = 50277;
    /// <summary>SSM state size N per channel.</summary>
    public int DState { get; set; } = 16;
    /// <summary>Width of the causal depthwise convolution.</summary>
    public int DConv { get; set; } = 4;
    /// <summary>Expansion factor E: the mixer's inner width is E·D.</summary>
    public int Expand { get; set; } = 2;
    /// <summary>Rank R of the Δ projection; null means "auto" = ⌈D/16⌉.</summary>
    public int? DtRank { get; set; }
    /// <summary>RMSNorm (true) or LayerNorm (false) for the block norms and the final norm.</summary>
    public bool RmsNorm { get; set; } = true;
    /// <summary>Epsilon of the norms.</summary>
    public double NormEpsilon { get; set; } = 1e-5;
    /// <summary>Tie the LM head to the embedding.</summary>
    public bool TieEmbeddings { get; set; } = true;
    /// <summary>Smallest Δ of the dt_proj bias init.</summary>
    public double DtMin { get; set; } = 0.001;
    /// <summary>Largest Δ of the dt_proj bias init.</summary>
    public double DtMax { get; set; } = 0.1;
    /// <summary>Floor applied to the sampled initial Δ.</summary>
    public double DtInitFloor { get; set; } = 1e-4;
    /// <summary>The embedding and head have <see cref="VocabSize"/> rounded up to a multiple of this.</summary>
    public int PadVocabSizeMultiple { get; set; } = 1;
    /// <summary>Std of the normal init of the embedding (<c>mamba_ssm</c>'s <c>initializer_range</c>).</summary>
    public double InitializerRange { get; set; } = 0.02;

    /// <summary>Fields of the file this config did not model, written back unchanged.</summary>
    public Dictionary<string, JsonNode?> Extra { get; } = [];

    /// <summary>Inner width E·D of each mixer.</summary>
    public int DInner => Expand * DModel;

    /// <summary>The Δ projection rank R, with "auto" resolved to ⌈D/16⌉.</summary>
    public int ResolvedDtRank => DtRank ?? (DModel + 15) / 16;

    /// <summary>Rows of the embedding and width of the logits: <see cref="VocabSize"/> padded up to
    /// <see cref="PadVocabSizeMultiple"/>.</summary>
    public int PaddedVocabSize => (int)((VocabSize + (long)PadVocabSizeMultiple - 1) / PadVocabSizeMultiple * PadVocabSizeMultiple);

    /// <summary>
    /// Number of parameters of the model this config describes, counted without building it: per block in_proj
    /// 2·E·D², conv E·D·(W + 1), x_proj E·D·(R + 2N), dt_proj R·E·D + E·D, A_log E·D·N, D E·D, out_proj E·D·D and the
    /// norm; plus the embedding, the final norm and, when untied, the head. LayerNorms count their bias too.
    /// </summary>
    public long ParameterCount()
    {
        long d = DModel, inner = DInner, n = DState, r = ResolvedDtRank, w = DConv, v = PaddedVocabSize;
        long norm = RmsNorm ? d : 2 * d;
        long block = 2 * inner * d + inner * (w + 1) + inner * (r + 2 * n) + (r * inner + inner) + inner * n + inner + inner * d + norm;
        return v * d + NLayer * block + norm + (TieEmbeddings ? 0 : v * d);
    }

    /// <summary>Names accepted by <see cref="Preset"/>.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["tiny", "small", "125m", "350m", "760m", "1.3b"];

    /// <summary>
    /// A named size. The four large ones are the Mamba paper's models, named like the TTT sizes they are compared
    /// with: 125m = Mamba-130M (d_model 768 × 24 layers), 350m = 370M (1024 × 48), 760m = 790M (1536 × 48),
    /// 1.3b = 1.4B (2048 × 48). The two small ones roughly match the parameter count of a TTT model at the same
    /// vocabulary: <c>tiny</c> (64 × 3) matches TTT hidden 64 × 2 layers, <c>small</c> (128 × 6) matches hidden
    /// 128 × 4 layers. The TTT side is TTT-Linear with the Mamba backbone, SwiGLU of width 2·hidden and 4 heads (the
    /// golden fixtures' shape). A Mamba block has about 6·D² parameters, a TTT block about 10·D² plus its inner
    /// weights, so the same width (hence the same embedding) and 1.5× the layers match the totals: at vocabulary 128,
    /// tiny 106,368 vs 95,720 (+11 %; 2 layers would be −23 %) and small 716,160 vs 702,160 (+2 %); at 32000 both
    /// within 1 %, the embedding dominating.
    /// All presets use the paper's d_state 16, d_conv 4, expand 2 and dt_rank auto.
    /// </summary>
    public static MambaConfig Preset(string name, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(name);
        var (dModel, nLayer) = name.ToLowerInvariant() switch
        {
            "tiny" => (64, 3),
            "small" => (128, 6),
            "125m" => (768, 24),
            "350m" => (1024, 48),
            "760m" => (1536, 48),
            "1.3b" => (2048, 48),
            _ => throw new ArgumentException($"unknown Mamba preset \"{name}\"; known presets: {string.Join(", ", PresetNames)}", nameof(name)),
        };
        var config = new MambaConfig { DModel = dModel, NLayer = nLayer, VocabSize = vocabSize };
        config.Validate($"preset {name}");
        return config;
    }

    /// <summary>Checks ranges and consistency; throws <see cref="InvalidDataException"/> naming the field.</summary>
    public void Validate(string source = "config")
    {
        void Range(string field, long value, long min, long max)
        {
            if (value < min || value > max)
                throw new InvalidDataException($"{source}: {field} must be in [{min}, {max}], got {value}");
        }
        void Positive(string field, double value)
        {
            if (!(value > 0) || double.IsInfinity(value))
                throw new InvalidDataException($"{source}: {field} must be positive and finite, got {value.ToString(CultureInfo.InvariantCulture)}");
        }
        Range("d_model", DModel, 1, 1 << 16);
        Range("n_layer", NLayer, 1, 10000);
        Range("vocab_size", VocabSize, 1, 1 << 24);
        Range("d_state", DState, 1, 1024);
        Range("d_conv", DConv, 2, 256);
        Range("expand", Expand, 1, 64);
        if (DtRank is { } rank) Range("dt_rank", rank, 1, 1 << 16);
        Range("pad_vocab_size_multiple", PadVocabSizeMultiple, 1, 1 << 16);
        Positive("norm_epsilon", NormEpsilon);
        Positive("dt_min", DtMin);
        Positive("dt_max", DtMax);
        if (DtMin > DtMax)
            throw new InvalidDataException($"{source}: dt_min {DtMin.ToString(CultureInfo.InvariantCulture)} must not exceed dt_max {DtMax.ToString(CultureInfo.InvariantCulture)}");
        if (!(DtInitFloor >= 0) || double.IsInfinity(DtInitFloor))
            throw new InvalidDataException($"{source}: dt_init_floor must be ≥ 0 and finite, got {DtInitFloor.ToString(CultureInfo.InvariantCulture)}");
        if (!(InitializerRange >= 0) || double.IsInfinity(InitializerRange))
            throw new InvalidDataException($"{source}: initializer_range must be ≥ 0 and finite, got {InitializerRange.ToString(CultureInfo.InvariantCulture)}");
        const long limit = 1L << 34;
        if ((long)PaddedVocabSize * DModel > limit || (long)DInner * DModel > limit || (long)DInner * DState > limit)
            throw new InvalidDataException($"{source}: sizes are absurdly large (vocab_size {VocabSize}, d_model {DModel}, expand {Expand}, d_state {DState})");
    }

    private static readonly (string Name, Func<MambaConfig, JsonNode?> Get, Action<MambaConfig, JsonNode> Set)[] Fields =
    [
        ("d_model", c => c.DModel, (c, n) => c.DModel = n.GetValue<int>()),
        ("n_layer", c => c.NLayer, (c, n) => c.NLayer = n.GetValue<int>()),
        ("vocab_size", c => c.VocabSize, (c, n) => c.VocabSize = n.GetValue<int>()),
        ("d_state", c => c.DState, (c, n) => c.DState = n.GetValue<int>()),
        ("d_conv", c => c.DConv, (c, n) => c.DConv = n.GetValue<int>()),
        ("expand", c => c.Expand, (c, n) => c.Expand = n.GetValue<int>()),
        ("dt_rank", c => c.DtRank is { } r ? JsonValue.Create(r) : JsonValue.Create("auto"), (c, n) => c.DtRank = ParseDtRank(n)),
        ("rms_norm", c => c.RmsNorm, (c, n) => c.RmsNorm = n.GetValue<bool>()),
        ("norm_epsilon", c => c.NormEpsilon, (c, n) => c.NormEpsilon = n.GetValue<double>()),
        ("tie_embeddings", c => c.TieEmbeddings, (c, n) => c.TieEmbeddings = n.GetValue<bool>()),
        ("dt_min", c => c.DtMin, (c, n) => c.DtMin = n.GetValue<double>()),
        ("dt_max", c => c.DtMax, (c, n) => c.DtMax = n.GetValue<double>()),
        ("dt_init_floor", c => c.DtInitFloor, (c, n) => c.DtInitFloor = n.GetValue<double>()),
        ("pad_vocab_size_multiple", c => c.PadVocabSizeMultiple, (c, n) => c.PadVocabSizeMultiple = n.GetValue<int>()),
        ("initializer_range", c => c.InitializerRange, (c, n) => c.InitializerRange = n.GetValue<double>()),
    ];

    /// <summary>The fields <c>mamba_ssm</c> keeps inside <c>ssm_cfg</c> (the Mamba module's constructor arguments).</summary>
    private static readonly string[] SsmCfgFields = ["d_state", "d_conv", "expand", "dt_rank", "dt_min", "dt_max", "dt_init_floor"];

    private static int? ParseDtRank(JsonNode node)
    {
        if (node is JsonValue v && v.TryGetValue<string>(out var s))
            return s == "auto" ? null : throw new FormatException($"dt_rank must be \"auto\" or a positive integer, got \"{s}\"");
        return node.GetValue<int>();
    }

    /// <summary>Parses config.json text; <paramref name="source"/> names the file in errors.</summary>
    public static MambaConfig Parse(string json, string source = "config.json")
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
        if (obj["model_type"] is { } type && !(type is JsonValue tv && tv.TryGetValue<string>(out var typeName) && typeName == "mamba"))
            throw new InvalidDataException($"{source}: model_type is {type.ToJsonString()}, expected \"mamba\"");
        var config = new MambaConfig();
        var known = Fields.ToDictionary(f => f.Name);
        void Set(string key, JsonNode? value, string where)
        {
            if (value is null) return; // null keeps the default
            try
            {
                known[key].Set(config, value);
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException)
            {
                throw new InvalidDataException($"{source}: field \"{where}\" has an invalid value {value.ToJsonString()} ({e.Message})", e);
            }
        }
        foreach (var (key, value) in obj)
        {
            if (key is "model_type" or "ssm_cfg") continue;
            if (known.ContainsKey(key)) Set(key, value, key);
            else
            {
                CheckSupported(key, value, source);
                config.Extra[key] = value?.DeepClone();
            }
        }
        if (obj["ssm_cfg"] is { } ssm)
        {
            if (ssm is not JsonObject ssmObj) throw new InvalidDataException($"{source}: ssm_cfg must be an object, got {ssm.ToJsonString()}");
            foreach (var (key, value) in ssmObj)
            {
                if (key == "layer")
                {
                    if (!(value is JsonValue lv && lv.TryGetValue<string>(out var layer) && layer == "Mamba1"))
                        throw new InvalidDataException($"{source}: ssm_cfg.layer {value?.ToJsonString()} is not supported (only \"Mamba1\")");
                    continue;
                }
                if (!SsmCfgFields.Contains(key))
                    throw new InvalidDataException($"{source}: ssm_cfg field \"{key}\" is not supported (supported: layer, {string.Join(", ", SsmCfgFields)})");
                // Compare through the typed field so that 0.001 and 1e-3 count as the same value.
                string? before = known[key].Get(config)?.ToJsonString();
                Set(key, value, "ssm_cfg." + key);
                string? after = known[key].Get(config)?.ToJsonString();
                if (obj.ContainsKey(key) && obj[key] is not null && before != after)
                    throw new InvalidDataException($"{source}: {key} is {before} at the top level but {after} in ssm_cfg");
            }
        }
        config.Validate(source);
        return config;
    }

    /// <summary>Rejects <c>mamba_ssm</c> options that change the architecture in ways this model does not implement.</summary>
    private static void CheckSupported(string key, JsonNode? value, string source)
    {
        switch (key)
        {
            case "d_intermediate" when value is not null && value.GetValueKind() == JsonValueKind.Number && value.GetValue<double>() != 0:
                throw new InvalidDataException($"{source}: d_intermediate {value.ToJsonString()} (an MLP after each mixer) is not supported; only 0");
            case "attn_layer_idx" when value is JsonArray { Count: > 0 }:
                throw new InvalidDataException($"{source}: attn_layer_idx {value.ToJsonString()} (hybrid attention layers) is not supported; only []");
        }
    }

    /// <summary>Reads and validates a config.json file.</summary>
    public static MambaConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"config file not found: {path}", path);
        var info = new FileInfo(path);
        if (info.Length > 1 << 20) throw new InvalidDataException($"{path}: {info.Length} bytes is too large for a config file");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>The config as JSON with <c>mamba_ssm</c>'s field names and <c>model_type: "mamba"</c>.</summary>
    public string ToJson()
    {
        var obj = new JsonObject { ["model_type"] = "mamba" };
        foreach (var (name, get, _) in Fields) obj[name] = get(this);
        foreach (var (k, v) in Extra) obj[k] = v?.DeepClone();
        return obj.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>A copy.</summary>
    public MambaConfig Clone() => Parse(ToJson(), "clone");
}
