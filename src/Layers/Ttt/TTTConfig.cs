using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ttt.Models;

/// <summary>
/// The TTT model configuration with the official field names and defaults of the PyTorch <c>TTTConfig</c>
/// (spec §2.4), read from and written to <c>config.json</c>. Unknown fields are kept and written back.
/// </summary>
public sealed class TTTConfig
{
    /// <summary>Vocabulary size V.</summary>
    public int VocabSize { get; set; } = 32000;
    /// <summary>Model width D.</summary>
    public int HiddenSize { get; set; } = 2048;
    /// <summary>SwiGLU hidden width.</summary>
    public int IntermediateSize { get; set; } = 5504;
    /// <summary>Number of blocks.</summary>
    public int NumHiddenLayers { get; set; } = 24;
    /// <summary>Heads H (head dim d = D/H).</summary>
    public int NumAttentionHeads { get; set; } = 32;
    /// <summary>Feed-forward activation (only "silu" is supported).</summary>
    public string HiddenAct { get; set; } = "silu";
    /// <summary>Unused by TTT (RoPE runs modulo the mini-batch); kept for the attention baseline.</summary>
    public int MaxPositionEmbeddings { get; set; } = 2048;
    /// <summary>Std of the normal init of dense kernels and embeddings.</summary>
    public double InitializerRange { get; set; } = 0.02;
    /// <summary>Epsilon of the RMSNorms.</summary>
    public double RmsNormEps { get; set; } = 1e-6;
    /// <summary>Tie the LM head to the embedding.</summary>
    public bool TieWordEmbeddings { get; set; } = true;
    /// <summary>RoPE base θ.</summary>
    public double RopeTheta { get; set; } = 10000;
    /// <summary>GELU output gate (Mamba backbone).</summary>
    public bool UseGate { get; set; }
    /// <summary>One Q/K projection with two causal convs (Mamba backbone).</summary>
    public bool ShareQk { get; set; }
    /// <summary>"linear" (TTT-Linear) or "mlp" (TTT-MLP).</summary>
    public string TttLayerType { get; set; } = "linear";
    /// <summary>η_base of the inner learning rate.</summary>
    public double TttBaseLr { get; set; } = 1.0;
    /// <summary>Inner mini-batch size K.</summary>
    public int MiniBatchSize { get; set; } = 16;
    /// <summary>Conv sub-layer before the TTT layer (Mamba backbone).</summary>
    public bool PreConv { get; set; }
    /// <summary>Width of every causal conv.</summary>
    public int ConvKernel { get; set; } = 4;
    /// <summary>
    /// Ablation switch (paper Table 1): learn the initial state W0 of the inner model (official, true) or start every
    /// sequence from W0 = 0 (false; no W0 parameters).
    /// </summary>
    public bool LearnableInitState { get; set; } = true;
    /// <summary>
    /// Ablation switch: the bias b1 of TTT-Linear's f_res(x) = x·W1 + b1 (official, true). False gives the paper's plain
    /// f(x) = x·W of its linear-attention rows (TTT-Linear only).
    /// </summary>
    public bool UseTttBias { get; set; } = true;
    /// <summary>Ablation switch: the per-head LayerNorm inside f, f(x) = x + LN(f_res(x)) (official, true).</summary>
    public bool UseTttNorm { get; set; } = true;
    /// <summary>
    /// Ablation switch: the residual inside f (official, true). Without it f(x) = LN(f_res(x)), the reconstruction
    /// target is v instead of v − k and the output is LN(f_res(q)) instead of q + LN(f_res(q)).
    /// </summary>
    public bool UseTttResidual { get; set; } = true;
    /// <summary>
    /// Ablation switch: the learnable inner learning rate of spec §1.6 (official, true: E[i, j] = τ_i·η_base·σ(x_j·θ_lr + β_lr)/d
    /// with τ_i = max(0, 1/(i+1) + δ_i)). False: the paper's fixed-η mini-batch GD (Eq. 6–7),
    /// W_i = W_start − η·Σ_{j≤i} ∇ℓ_paper(W_start; x_j) with the paper's loss ℓ_paper = ‖f(k) − v‖² (no ½): no gate, no
    /// token-index scale, no 1/d, no learnable_ttt_lr_* or learnable_token_idx parameters. Since the code's loss is
    /// ½‖·‖², that is E[i, j] = 2η for every j ≤ i.
    /// </summary>
    public bool LearnableTttLr { get; set; } = true;
    /// <summary>η of the fixed inner learning rate (used only when <see cref="LearnableTttLr"/> is false); ½ makes TTT-Linear with W0 = 0, b = T and no LN/residual exactly linear attention.</summary>
    public double TttFixedLr { get; set; } = 0.5;
    /// <summary>True when every ablation switch has its official value (the fused kernels and checkpoints assume it).</summary>
    public bool IsOfficialInnerLoop => LearnableInitState && UseTttBias && UseTttNorm && UseTttResidual && LearnableTttLr;
    /// <summary>Scan checkpointing: keep one state every this many mini-batches during training (0: keep all).</summary>
    public int ScanCheckpointGroupSize { get; set; }
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

    /// <summary>True for the Mamba backbone (all three flags on).</summary>
    public bool IsMambaBackbone => PreConv && ShareQk && UseGate;

    /// <summary>Names of the size presets, smallest first.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["tiny", "small", "125m", "350m", "760m", "1.3b"];

    /// <summary>
    /// A named size (spec §2.4 for 125m…1.3b; <c>tiny</c> = 64 wide × 2 layers × 4 heads, <c>small</c> = 128 × 4 × 4,
    /// both with SwiGLU width 2D, for CPU-sized runs) with TTT-Linear or TTT-MLP and the Mamba or Transformer
    /// backbone. η_base is 1.0 for TTT-Linear and 0.1 for TTT-MLP, as in the paper.
    /// </summary>
    public static TTTConfig Preset(string name, int vocab, string inner = "linear", bool mambaBackbone = true)
    {
        var (hidden, layers, heads, ffn) = name switch
        {
            "tiny" => (64, 2, 4, 128),
            "small" => (128, 4, 4, 256),
            "125m" => (768, 12, 12, 2048),
            "350m" => (1024, 24, 16, 2736),
            "760m" => (1536, 24, 16, 4096),
            "1.3b" or "1b" => (2048, 24, 32, 5504),
            _ => throw new ArgumentException($"unknown size '{name}': expected {string.Join(", ", PresetNames)}"),
        };
        var config = new TTTConfig
        {
            VocabSize = vocab,
            HiddenSize = hidden,
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            IntermediateSize = ffn,
            TttLayerType = inner,
            TttBaseLr = inner == "mlp" ? 0.1 : 1.0,
            PreConv = mambaBackbone,
            ShareQk = mambaBackbone,
            UseGate = mambaBackbone,
        };
        config.Validate($"preset {name}");
        return config;
    }

    /// <summary>Checks ranges and consistency; throws naming the field.</summary>
    public void Validate(string source = "config")
    {
        void Positive(string name, double v)
        {
            if (!(v > 0) || double.IsInfinity(v)) throw new InvalidDataException($"{source}: {name} must be positive, got {v.ToString(CultureInfo.InvariantCulture)}");
        }
        Positive("vocab_size", VocabSize);
        Positive("hidden_size", HiddenSize);
        Positive("intermediate_size", IntermediateSize);
        Positive("num_hidden_layers", NumHiddenLayers);
        Positive("num_attention_heads", NumAttentionHeads);
        Positive("mini_batch_size", MiniBatchSize);
        Positive("conv_kernel", ConvKernel);
        Positive("rope_theta", RopeTheta);
        Positive("ttt_base_lr", TttBaseLr);
        Positive("ttt_fixed_lr", TttFixedLr);
        Positive("rms_norm_eps", RmsNormEps);
        if (!(InitializerRange >= 0)) throw new InvalidDataException($"{source}: initializer_range must be ≥ 0");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new InvalidDataException($"{source}: hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        if (HeadDim % 2 != 0) throw new InvalidDataException($"{source}: head dim {HeadDim} = hidden_size {HiddenSize} / num_attention_heads {NumAttentionHeads} must be even for RoPE");
        if (TttLayerType is not ("linear" or "mlp"))
            throw new InvalidDataException($"{source}: ttt_layer_type must be \"linear\" or \"mlp\", got \"{TttLayerType}\"");
        if (!UseTttBias && TttLayerType != "linear") throw new InvalidDataException($"{source}: use_ttt_bias = false is only supported for ttt_layer_type \"linear\"");
        if (HiddenAct != "silu") throw new InvalidDataException($"{source}: hidden_act \"{HiddenAct}\" is not supported (only \"silu\")");
        if (ScanCheckpointGroupSize < 0) throw new InvalidDataException($"{source}: scan_checkpoint_group_size must be ≥ 0");
        Positive("max_position_embeddings", MaxPositionEmbeddings);
        // Upper bounds far above any real model, so that a corrupted value is an error here rather than an
        // allocation of gigabytes when the model is built.
        if (MiniBatchSize > 1 << 16) throw new InvalidDataException($"{source}: mini_batch_size {MiniBatchSize} is absurdly large (at most 65536)");
        if (ConvKernel > 1 << 12) throw new InvalidDataException($"{source}: conv_kernel {ConvKernel} is absurdly large (at most 4096)");
        foreach (var (name, id) in new[] { ("bos_token_id", BosTokenId), ("eos_token_id", EosTokenId), ("pad_token_id", PadTokenId) })
            if (id < 0) throw new InvalidDataException($"{source}: {name} must be ≥ 0 (or null), got {id}");
        const long limit = 1L << 34;
        if ((long)VocabSize * HiddenSize > limit || (long)HiddenSize * IntermediateSize > limit || NumHiddenLayers > 10000)
            throw new InvalidDataException($"{source}: sizes are absurdly large (vocab_size {VocabSize}, hidden_size {HiddenSize}, intermediate_size {IntermediateSize}, num_hidden_layers {NumHiddenLayers})");
    }

    private static readonly (string Name, Func<TTTConfig, JsonNode?> Get, Action<TTTConfig, JsonNode> Set)[] Fields =
    [
        ("vocab_size", c => c.VocabSize, (c, n) => c.VocabSize = n.GetValue<int>()),
        ("hidden_size", c => c.HiddenSize, (c, n) => c.HiddenSize = n.GetValue<int>()),
        ("intermediate_size", c => c.IntermediateSize, (c, n) => c.IntermediateSize = n.GetValue<int>()),
        ("num_hidden_layers", c => c.NumHiddenLayers, (c, n) => c.NumHiddenLayers = n.GetValue<int>()),
        ("num_attention_heads", c => c.NumAttentionHeads, (c, n) => c.NumAttentionHeads = n.GetValue<int>()),
        ("hidden_act", c => c.HiddenAct, (c, n) => c.HiddenAct = n.GetValue<string>()),
        ("max_position_embeddings", c => c.MaxPositionEmbeddings, (c, n) => c.MaxPositionEmbeddings = n.GetValue<int>()),
        ("initializer_range", c => c.InitializerRange, (c, n) => c.InitializerRange = n.GetValue<double>()),
        ("rms_norm_eps", c => c.RmsNormEps, (c, n) => c.RmsNormEps = n.GetValue<double>()),
        ("tie_word_embeddings", c => c.TieWordEmbeddings, (c, n) => c.TieWordEmbeddings = n.GetValue<bool>()),
        ("rope_theta", c => c.RopeTheta, (c, n) => c.RopeTheta = n.GetValue<double>()),
        ("use_gate", c => c.UseGate, (c, n) => c.UseGate = n.GetValue<bool>()),
        ("share_qk", c => c.ShareQk, (c, n) => c.ShareQk = n.GetValue<bool>()),
        ("ttt_layer_type", c => c.TttLayerType, (c, n) => c.TttLayerType = n.GetValue<string>()),
        ("ttt_base_lr", c => c.TttBaseLr, (c, n) => c.TttBaseLr = n.GetValue<double>()),
        ("mini_batch_size", c => c.MiniBatchSize, (c, n) => c.MiniBatchSize = n.GetValue<int>()),
        ("pre_conv", c => c.PreConv, (c, n) => c.PreConv = n.GetValue<bool>()),
        ("conv_kernel", c => c.ConvKernel, (c, n) => c.ConvKernel = n.GetValue<int>()),
        ("scan_checkpoint_group_size", c => c.ScanCheckpointGroupSize, (c, n) => c.ScanCheckpointGroupSize = n.GetValue<int>()),
        ("learnable_init_state", c => c.LearnableInitState, (c, n) => c.LearnableInitState = n.GetValue<bool>()),
        ("use_ttt_bias", c => c.UseTttBias, (c, n) => c.UseTttBias = n.GetValue<bool>()),
        ("use_ttt_norm", c => c.UseTttNorm, (c, n) => c.UseTttNorm = n.GetValue<bool>()),
        ("use_ttt_residual", c => c.UseTttResidual, (c, n) => c.UseTttResidual = n.GetValue<bool>()),
        ("learnable_ttt_lr", c => c.LearnableTttLr, (c, n) => c.LearnableTttLr = n.GetValue<bool>()),
        ("ttt_fixed_lr", c => c.TttFixedLr, (c, n) => c.TttFixedLr = n.GetValue<double>()),
        ("bos_token_id", c => c.BosTokenId, (c, n) => c.BosTokenId = n.GetValue<int>()),
        ("eos_token_id", c => c.EosTokenId, (c, n) => c.EosTokenId = n.GetValue<int>()),
        ("pad_token_id", c => c.PadTokenId, (c, n) => c.PadTokenId = n.GetValue<int>()),
    ];

    private static readonly HashSet<string> AblationFields = ["learnable_init_state", "use_ttt_bias", "use_ttt_norm", "use_ttt_residual", "learnable_ttt_lr", "ttt_fixed_lr"];

    /// <summary>Parses config.json text; <paramref name="source"/> names the file in errors.</summary>
    public static TTTConfig Parse(string json, string source = "config.json")
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
        var config = new TTTConfig();
        var known = Fields.ToDictionary(f => f.Name);
        foreach (var (key, value) in obj)
        {
            if (known.TryGetValue(key, out var field))
            {
                if (value is null) continue; // null keeps the default (e.g. pad_token_id)
                try
                {
                    field.Set(config, value);
                }
                catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException)
                {
                    throw new InvalidDataException($"{source}: field \"{key}\" has an invalid value {value.ToJsonString()} ({e.Message})", e);
                }
            }
            else config.Extra[key] = value?.DeepClone();
        }
        config.Validate(source);
        return config;
    }

    /// <summary>Reads and validates a config.json file.</summary>
    public static TTTConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"config file not found: {path}", path);
        var info = new FileInfo(path);
        if (info.Length > 1 << 20) throw new InvalidDataException($"{path}: {info.Length} bytes is too large for a config file");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>The config as JSON with the official field names.</summary>
    public string ToJson()
    {
        var obj = new JsonObject();
        foreach (var (name, get, _) in Fields)
            if (!AblationFields.Contains(name) || !IsOfficialInnerLoop) obj[name] = get(this); // official configs stay as they were
        obj["model_type"] ??= "ttt";
        foreach (var (k, v) in Extra) obj[k] = v?.DeepClone();
        return obj.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>A copy.</summary>
    public TTTConfig Clone() => Parse(ToJson(), "clone");
}
