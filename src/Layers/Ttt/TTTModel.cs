using Ttt.Nn;

namespace Ttt.Models;

/// <summary>The pre-conv sub-layer of the Mamba backbone: RMSNorm then a causal depthwise conv (names conv.norm, conv.conv).</summary>
public sealed class PreConv : Module
{
    /// <summary>Creates the sub-layer.</summary>
    public PreConv(TTTConfig config, Generator gen, DType dtype)
    {
        ArgumentNullException.ThrowIfNull(config);
        Norm = AddModule("norm", new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype));
        Conv = AddModule("conv", new CausalConv1d(config.HiddenSize, config.ConvKernel, gen, dtype));
    }

    /// <summary>RMSNorm before the conv.</summary>
    public RmsNorm Norm { get; }

    /// <summary>The conv.</summary>
    public CausalConv1d Conv { get; }

    /// <summary>conv(norm(h)) over a sequence [B, T, D].</summary>
    public Tensor Forward(Tensor h) => Conv.Forward(Norm.Forward(h));
}

/// <summary>
/// One block (spec §2.1): h += PreConv(h) (Mamba backbone), h += TTT(RMSNorm(h)), h += SwiGLU(RMSNorm(h)).
/// </summary>
public sealed class TTTBlock : Module
{
    /// <summary>Creates the block.</summary>
    public TTTBlock(TTTConfig config, Generator gen, InnerModel? inner, DType dtype)
    {
        ArgumentNullException.ThrowIfNull(config);
        SeqModelingBlock = AddModule("seq_modeling_block", new TTTLayer(config, gen, inner, dtype));
        Mlp = AddModule("mlp", new SwiGlu(config.HiddenSize, config.IntermediateSize, gen, config.InitializerRange, dtype));
        if (config.PreConv) Conv = AddModule("conv", new PreConv(config, gen, dtype));
        SeqNorm = AddModule("seq_norm", new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype));
        FfnNorm = AddModule("ffn_norm", new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype));
        Width = config.ConvKernel;
    }

    private int Width { get; }

    /// <summary>The TTT layer.</summary>
    public TTTLayer SeqModelingBlock { get; }
    /// <summary>The feed-forward sub-layer.</summary>
    public SwiGlu Mlp { get; }
    /// <summary>The pre-conv sub-layer (pre_conv only).</summary>
    public PreConv? Conv { get; }
    /// <summary>Norm before the TTT layer.</summary>
    public RmsNorm SeqNorm { get; }
    /// <summary>Norm before the feed-forward.</summary>
    public RmsNorm FfnNorm { get; }

    /// <summary>Full-sequence forward: h [B, T, D] → [B, T, D].</summary>
    public Tensor Forward(Tensor h)
    {
        ArgumentNullException.ThrowIfNull(h);
        if (Conv is not null) h = h + Conv.Forward(h);
        h = h + SeqModelingBlock.Forward(SeqNorm.Forward(h));
        return h + Mlp.Forward(FfnNorm.Forward(h));
    }

    /// <summary>Forward with a decoding cache (prefill on the first call, then token steps).</summary>
    public Tensor Forward(Tensor h, TTTBlockCache cache)
    {
        ArgumentNullException.ThrowIfNull(h);
        ArgumentNullException.ThrowIfNull(cache);
        if (Conv is not null)
        {
            var normed = Conv.Norm.Forward(h);
            Tensor conv;
            if (cache.Layer.Position == 0)
            {
                conv = Conv.Conv.Forward(normed);
                cache.PreConvWindow = TTTLayerCache.LastWindow(normed, Width);
            }
            else
            {
                var steps = new List<Tensor>();
                for (int i = 0; i < h.Shape[1]; i++)
                {
                    var window = Tensor.Cat([cache.PreConvWindow!, normed.Narrow(1, i, 1)], 1);
                    cache.PreConvWindow = window.Narrow(1, 1, window.Shape[1] - 1);
                    steps.Add(Conv.Conv.Step(window).Unsqueeze(1));
                }
                conv = steps.Count == 1 ? steps[0] : Tensor.Cat(steps, 1);
            }
            h = h + conv;
        }
        h = h + SeqModelingBlock.Forward(SeqNorm.Forward(h), cache.Layer);
        return h + Mlp.Forward(FfnNorm.Forward(h));
    }
}

/// <summary>Decoding state of one block: its TTT layer's cache and the pre-conv window.</summary>
public sealed class TTTBlockCache
{
    /// <summary>The TTT layer's cache.</summary>
    public TTTLayerCache Layer { get; } = new();

    /// <summary>The last W−1 normed inputs of the pre-conv [B, W−1, D].</summary>
    public Tensor? PreConvWindow { get; internal set; }
}

/// <summary>The decoding cache of a whole model: one block cache per layer.</summary>
public sealed class TTTCache : IDecodingCache
{
    /// <summary>Creates an empty cache for a model with <paramref name="layers"/> blocks.</summary>
    public TTTCache(int layers) => Blocks = Enumerable.Range(0, layers).Select(_ => new TTTBlockCache()).ToArray();

    /// <summary>Per-block caches.</summary>
    public TTTBlockCache[] Blocks { get; }

    /// <summary>Tokens processed so far.</summary>
    public long Position => Blocks.Length == 0 ? 0 : Blocks[0].Layer.Position;
}

/// <summary>The TTT backbone (names model.embed_tokens, model.layers.{i}, model.norm).</summary>
public sealed class TTTModel : Module
{
    /// <summary>Creates the backbone.</summary>
    public TTTModel(TTTConfig config, Generator gen, Func<int, InnerModel>? inner = null, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(config);
        EmbedTokens = AddModule("embed_tokens", new Embedding(config.VocabSize, config.HiddenSize, gen, config.InitializerRange, dtype));
        Layers = Enumerable.Range(0, config.NumHiddenLayers)
            .Select(i => AddModule($"layers.{i}", new TTTBlock(config, gen, inner?.Invoke(i), dtype))).ToArray();
        Norm = AddModule("norm", new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype));
    }

    /// <summary>Token embedding [V, D].</summary>
    public Embedding EmbedTokens { get; }
    /// <summary>The blocks.</summary>
    public TTTBlock[] Layers { get; }
    /// <summary>Final RMSNorm.</summary>
    public RmsNorm Norm { get; }

    /// <summary>
    /// ids [B, T] → final hidden states [B, T, D]. When <paramref name="hiddenStates"/> is given it receives the
    /// output of every block and then the final norm's output (layers + 1 tensors).
    /// </summary>
    public Tensor Forward(Tensor ids, List<Tensor>? hiddenStates = null, TTTCache? cache = null)
    {
        var h = EmbedTokens.Forward(ids);
        for (int i = 0; i < Layers.Length; i++)
        {
            h = cache is null ? Layers[i].Forward(h) : Layers[i].Forward(h, cache.Blocks[i]);
            hiddenStates?.Add(h);
        }
        var result = Norm.Forward(h);
        hiddenStates?.Add(result);
        return result;
    }
}

/// <summary>
/// The TTT language model (<c>TTTForCausalLM</c>): backbone plus LM head, tied to the embedding by default.
/// Loss = mean next-token cross-entropy over logits[:, :−1] against labels[:, 1:], ignoring −100.
/// </summary>
public sealed class TTTForCausalLM : CausalLM
{
    private readonly Linear? _lmHead;

    /// <summary>Creates the model with weights initialized from <paramref name="gen"/> (spec §2.5).</summary>
    public TTTForCausalLM(TTTConfig config, Generator gen, Func<int, InnerModel>? inner = null, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        Model = AddModule("model", new TTTModel(config, gen, inner, dtype));
        if (!config.TieWordEmbeddings)
            _lmHead = AddModule("lm_head", new Linear(config.HiddenSize, config.VocabSize, gen, std: config.InitializerRange, dtype: dtype));
    }

    /// <summary>The configuration.</summary>
    public TTTConfig Config { get; }

    /// <summary>The backbone.</summary>
    public TTTModel Model { get; }

    /// <summary>The LM head weight [V, D] (the embedding when tied).</summary>
    public Tensor HeadWeight => _lmHead?.Weight ?? Model.EmbedTokens.Weight;

    /// <summary>Every TTT layer of the model.</summary>
    public IEnumerable<TTTLayer> TttLayers => Model.Layers.Select(l => l.SeqModelingBlock);

    /// <inheritdoc/>
    public override string Architecture => "ttt";

    /// <inheritdoc/>
    public override int VocabSize => Config.VocabSize;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor ids) => Forward(ids, null, null);

    /// <inheritdoc/>
    public override IDecodingCache NewCache(int batch) => NewCache();

    /// <inheritdoc/>
    public override Tensor Forward(Tensor ids, IDecodingCache cache) =>
        Forward(ids, null, cache as TTTCache ?? throw new ArgumentException("ttt model: the cache was not made by a TTT model", nameof(cache)));

    /// <inheritdoc/>
    public override string ConfigJson() => Config.ToJson();

    /// <inheritdoc/>
    public override IEnumerable<KeyValuePair<string, Tensor>> StateToSave() => TTTCheckpoint.StateForSaving(this);

    /// <inheritdoc/>
    public override void LoadSaved(IReadOnlyDictionary<string, Tensor> state) =>
        LoadStateDict(state, strict: true, ignore: Config.TieWordEmbeddings ? ["lm_head.weight"] : null);

    /// <summary>ids [B, T] (int64) → logits [B, T, V]; optionally every block's output; optionally with a cache.</summary>
    public Tensor Forward(Tensor ids, List<Tensor>? hiddenStates, TTTCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.DType != DType.Int64 || ids.Rank != 2)
            throw new ArgumentException($"ttt model: input ids must be int64 [B, T], got {ids.DType.Name()} {ShapeUtil.Format(ids.Shape)}");
        var h = Model.Forward(ids, hiddenStates, cache);
        return Tensor.Matmul(h, HeadWeight.MT);
    }

    /// <summary>Mean next-token cross-entropy of logits [B, T, V] against labels [B, T].</summary>
    public static Tensor Loss(Tensor logits, Tensor labels) => NextTokenLoss(logits, labels);

    /// <summary>A fresh decoding cache for this model.</summary>
    public TTTCache NewCache() => new(Model.Layers.Length);
}
