using Ttt.Nn;

namespace Ttt.Models;

/// <summary>
/// One pre-norm block (Llama decoder layer): h += Attn(RMSNorm(h)); h += SwiGLU(RMSNorm(h)). Names
/// <c>self_attn</c>, <c>mlp</c>, <c>input_layernorm</c>, <c>post_attention_layernorm</c>.
/// </summary>
public sealed class TransformerBlock : Module
{
    /// <summary>Creates the block (weights drawn in the order attention q, k, v, o, then SwiGLU gate, up, down).</summary>
    public TransformerBlock(TransformerConfig config, Generator gen, DType dtype)
    {
        ArgumentNullException.ThrowIfNull(config);
        SelfAttn = AddModule("self_attn", new SelfAttention(config, gen, dtype));
        Mlp = AddModule("mlp", new SwiGlu(config.HiddenSize, config.IntermediateSize, gen, config.InitializerRange, dtype));
        InputLayernorm = AddModule("input_layernorm", new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype));
        PostAttentionLayernorm = AddModule("post_attention_layernorm", new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype));
    }

    /// <summary>The attention sub-layer.</summary>
    public SelfAttention SelfAttn { get; }
    /// <summary>The feed-forward sub-layer.</summary>
    public SwiGlu Mlp { get; }
    /// <summary>Norm before attention.</summary>
    public RmsNorm InputLayernorm { get; }
    /// <summary>Norm before the feed-forward.</summary>
    public RmsNorm PostAttentionLayernorm { get; }

    /// <summary>h [B, T, D] → [B, T, D], with the RoPE tables [T, d/2] of the tokens' positions and an optional cache.</summary>
    public Tensor Forward(Tensor h, Tensor cos, Tensor sin, KeyValueCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(h);
        h = h + SelfAttn.Forward(InputLayernorm.Forward(h), cos, sin, cache);
        return h + Mlp.Forward(PostAttentionLayernorm.Forward(h));
    }
}

/// <summary>The decoding cache of a Transformer: per layer the keys and values of every token so far.</summary>
public sealed class TransformerCache : IDecodingCache
{
    /// <summary>Creates an empty cache for <paramref name="batch"/> sequences and <paramref name="layers"/> blocks.</summary>
    public TransformerCache(int batch, int layers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        Batch = batch;
        Layers = Enumerable.Range(0, layers).Select(_ => new KeyValueCache()).ToArray();
    }

    /// <summary>Number of sequences B.</summary>
    public int Batch { get; }

    /// <summary>Per-block keys and values.</summary>
    public KeyValueCache[] Layers { get; }

    /// <summary>Tokens processed so far (the position of the next token).</summary>
    public long Position { get; internal set; }
}

/// <summary>The Transformer backbone (names <c>model.embed_tokens</c>, <c>model.layers.{i}</c>, <c>model.norm</c>).</summary>
public sealed class TransformerModel : Module
{
    private readonly TransformerConfig _config;
    private readonly object _ropeLock = new();
    private (Tensor Cos, Tensor Sin)? _rope; // tables [P, d/2] for positions 0 … P−1 in the parameters' dtype

    /// <summary>Creates the backbone; parameters drawn from <paramref name="gen"/>: embedding first, then each block.</summary>
    public TransformerModel(TransformerConfig config, Generator gen, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(config);
        _config = config;
        EmbedTokens = AddModule("embed_tokens", new Embedding(config.VocabSize, config.HiddenSize, gen, config.InitializerRange, dtype));
        Layers = Enumerable.Range(0, config.NumHiddenLayers)
            .Select(i => AddModule($"layers.{i}", new TransformerBlock(config, gen, dtype))).ToArray();
        Norm = AddModule("norm", new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype));
    }

    /// <summary>Token embedding [V, D].</summary>
    public Embedding EmbedTokens { get; }
    /// <summary>The blocks.</summary>
    public TransformerBlock[] Layers { get; }
    /// <summary>Final RMSNorm.</summary>
    public RmsNorm Norm { get; }

    /// <summary>
    /// ids [B, T] → final hidden states [B, T, D] for tokens at positions <paramref name="start"/> … start+T−1; with
    /// a cache, each block appends its keys and values and attends to all cached ones.
    /// </summary>
    public Tensor Forward(Tensor ids, long start = 0, TransformerCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int t = ids.Shape[1];
        var (cos, sin) = RopeTables(start, t);
        var h = EmbedTokens.Forward(ids);
        for (int i = 0; i < Layers.Length; i++)
            h = Layers[i].Forward(h, cos, sin, cache?.Layers[i]);
        return Norm.Forward(h);
    }

    /// <summary>
    /// RoPE cos/sin [T, d/2] for positions start … start+T−1 (θ = rope_theta), sliced from a table that is computed
    /// once in double precision and grown by doubling.
    /// </summary>
    public (Tensor Cos, Tensor Sin) RopeTables(long start, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        long end = start + length;
        if (end > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(length), $"position {end} is beyond the supported range");
        var dtype = DType;
        var device = Device;
        lock (_ropeLock)
        {
            if (_rope is not { } table || table.Cos.Shape[0] < end || table.Cos.DType != dtype || table.Cos.Device != device)
            {
                long size = Math.Max(end, _config.MaxPositionEmbeddings);
                if (_rope is { } old && old.Cos.Shape[0] < end) size = Math.Max(size, 2L * old.Cos.Shape[0]);
                size = Math.Min(size, int.MaxValue);
                var positions = new long[size];
                for (int p = 0; p < positions.Length; p++) positions[p] = p;
                using (GradMode.Disable()) _rope = table = Rope.Tables(positions, _config.HeadDim, _config.RopeTheta, dtype, device);
            }
            return (table.Cos.Narrow(0, (int)start, length), table.Sin.Narrow(0, (int)start, length));
        }
    }
}

/// <summary>
/// The Transformer baseline language model (Llama / "Transformer++", spec §2.2): embedding → blocks
/// (h += Attn(RMSNorm(h)); h += SwiGLU(RMSNorm(h))) → final RMSNorm → LM head tied to the embedding (or
/// <c>lm_head</c> when <c>tie_word_embeddings</c> is false). Parameter names follow Hugging Face Llama. Decoding keeps
/// every token's keys and values, so the work per generated token grows with the context, as attention's does.
/// </summary>
public sealed class TransformerForCausalLM : CausalLM
{
    private readonly Linear? _lmHead;

    /// <summary>
    /// Creates the model with weights from <paramref name="gen"/> (spec §2.5: dense kernels and embedding
    /// N(0, initializer_range²), norms 1, no biases).
    /// </summary>
    public TransformerForCausalLM(TransformerConfig config, Generator gen, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(gen);
        config.Validate();
        Config = config;
        Model = AddModule("model", new TransformerModel(config, gen, dtype));
        if (!config.TieWordEmbeddings)
            _lmHead = AddModule("lm_head", new Linear(config.HiddenSize, config.VocabSize, gen, std: config.InitializerRange, dtype: dtype));
    }

    /// <summary>The configuration.</summary>
    public TransformerConfig Config { get; }

    /// <summary>The backbone.</summary>
    public TransformerModel Model { get; }

    /// <summary>The LM head weight [V, D] (the embedding when tied).</summary>
    public Tensor HeadWeight => _lmHead?.Weight ?? Model.EmbedTokens.Weight;

    /// <inheritdoc/>
    public override string Architecture => TransformerConfig.ModelType;

    /// <inheritdoc/>
    public override int VocabSize => Config.VocabSize;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor ids)
    {
        CheckIds(ids, null);
        return Tensor.Matmul(Model.Forward(ids), HeadWeight.MT);
    }

    /// <inheritdoc/>
    public override IDecodingCache NewCache(int batch) => new TransformerCache(batch, Model.Layers.Length);

    /// <summary>
    /// ids [B, T] continuing the sequences in <paramref name="cache"/> → logits [B, T, V] of the new tokens (equal to
    /// the full forward's). The first call prefills; later calls (one or more tokens) attend to every cached token.
    /// </summary>
    public override Tensor Forward(Tensor ids, IDecodingCache cache)
    {
        var kv = cache as TransformerCache ?? throw new ArgumentException("transformer model: the cache was not made by a transformer model", nameof(cache));
        CheckIds(ids, kv);
        var h = Model.Forward(ids, kv.Position, kv);
        kv.Position += ids.Shape[1];
        return Tensor.Matmul(h, HeadWeight.MT);
    }

    /// <inheritdoc/>
    public override string ConfigJson() => Config.ToJson();

    /// <summary>The parameters under their names, plus <c>lm_head.weight</c> (a copy of the embedding) when tied,
    /// as a Hugging Face Llama state dict has it.</summary>
    public override IEnumerable<KeyValuePair<string, Tensor>> StateToSave()
    {
        foreach (var (name, t) in NamedParameters()) yield return new(name, t.Detach());
        if (Config.TieWordEmbeddings) yield return new("lm_head.weight", HeadWeight.Detach());
    }

    /// <summary>
    /// Loads parameters by name (strict). With tied embeddings <c>lm_head.weight</c> may be absent; if present it
    /// must equal the embedding.
    /// </summary>
    public override void LoadSaved(IReadOnlyDictionary<string, Tensor> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (Config.TieWordEmbeddings && state.TryGetValue("lm_head.weight", out var head)
            && state.TryGetValue("model.embed_tokens.weight", out var embedding)
            && (!ShapeUtil.SameShape(head.Shape, embedding.Shape) || !Tensor.AllEqual(head, embedding)))
            throw new InvalidDataException("tie_word_embeddings is true but 'lm_head.weight' differs from 'model.embed_tokens.weight'");
        LoadStateDict(state, strict: true, ignore: Config.TieWordEmbeddings ? ["lm_head.weight"] : null);
    }

    private static void CheckIds(Tensor ids, TransformerCache? cache)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.DType != DType.Int64 || ids.Rank != 2)
            throw new ArgumentException($"transformer model: input ids must be int64 [B, T], got {ids.DType.Name()} {ShapeUtil.Format(ids.Shape)}");
        if (cache is not null && ids.Shape[0] != cache.Batch)
            throw new ArgumentException($"transformer model: the cache holds {cache.Batch} sequences, the input has {ids.Shape[0]}");
    }
}
