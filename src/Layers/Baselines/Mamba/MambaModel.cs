using Ttt.Nn;

namespace Ttt.Models;

/// <summary>
/// One residual block (<c>mamba_ssm</c>'s <c>Block</c>): h = h + Mamba(Norm(h)), with an RMSNorm (or a LayerNorm
/// when <c>rms_norm</c> is false). Names: <c>mixer.*</c>, <c>norm.weight</c> (and <c>norm.bias</c>).
/// </summary>
public sealed class MambaBlock : Module
{
    private readonly Module _norm;

    /// <summary>Creates the block.</summary>
    public MambaBlock(MambaConfig config, Generator gen, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(config);
        Mixer = AddModule("mixer", new MambaMixer(config, gen, dtype));
        _norm = AddModule("norm", MambaNorms.Create(config, dtype));
    }

    /// <summary>The mixer.</summary>
    public MambaMixer Mixer { get; }

    /// <summary>h [B, L, D] → h + Mamba(Norm(h)) [B, L, D], with an optional decoding cache.</summary>
    public Tensor Forward(Tensor h, MambaLayerCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(h);
        return h + Mixer.Forward(MambaNorms.Apply(_norm, h), cache);
    }
}

/// <summary>
/// The Mamba backbone (<c>mamba_ssm</c>'s <c>MixerModel</c>): embedding → n_layer blocks → final norm. Names
/// <c>embedding.weight</c>, <c>layers.{i}.*</c>, <c>norm_f.weight</c>.
/// </summary>
public sealed class MambaBackbone : Module
{
    private readonly Module _normF;

    /// <summary>Creates the backbone; the embedding is N(0, initializer_range²).</summary>
    public MambaBackbone(MambaConfig config, Generator gen, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(config);
        Embedding = AddModule("embedding", new Embedding(config.PaddedVocabSize, config.DModel, gen, config.InitializerRange, dtype));
        Layers = Enumerable.Range(0, config.NLayer).Select(i => AddModule($"layers.{i}", new MambaBlock(config, gen, dtype))).ToArray();
        _normF = AddModule("norm_f", MambaNorms.Create(config, dtype));
    }

    /// <summary>Token embedding [V_pad, D].</summary>
    public Embedding Embedding { get; }

    /// <summary>The blocks.</summary>
    public MambaBlock[] Layers { get; }

    /// <summary>ids [B, T] → final hidden states [B, T, D], with an optional decoding cache.</summary>
    public Tensor Forward(Tensor ids, MambaCache? cache = null)
    {
        var h = Embedding.Forward(ids);
        for (int i = 0; i < Layers.Length; i++) h = Layers[i].Forward(h, cache?.Layers[i]);
        return MambaNorms.Apply(_normF, h);
    }
}

/// <summary>The decoding cache of a Mamba model: one <see cref="MambaLayerCache"/> per block.</summary>
public sealed class MambaCache : IDecodingCache
{
    /// <summary>Creates an empty cache for <paramref name="layers"/> blocks and <paramref name="batch"/> sequences.</summary>
    public MambaCache(int layers, int batch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        Batch = batch;
        Layers = Enumerable.Range(0, layers).Select(_ => new MambaLayerCache()).ToArray();
    }

    /// <summary>Per-block caches.</summary>
    public MambaLayerCache[] Layers { get; }

    /// <summary>Number of sequences B.</summary>
    public int Batch { get; }

    /// <inheritdoc/>
    public long Position { get; internal set; }
}

/// <summary>
/// The Mamba language model (<c>mamba_ssm</c>'s <c>MambaLMHeadModel</c>): backbone plus LM head, tied to the
/// embedding by default. ids [B, T] → logits [B, T, V_pad] (V_pad = V unless <c>pad_vocab_size_multiple</c>).
/// </summary>
public sealed class MambaForCausalLM : CausalLM
{
    private readonly Linear? _lmHead;

    /// <summary>Creates the model with weights drawn from <paramref name="gen"/> (see <see cref="MambaMixer"/>).</summary>
    public MambaForCausalLM(MambaConfig config, Generator gen, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(gen);
        config.Validate();
        Config = config;
        Backbone = AddModule("backbone", new MambaBackbone(config, gen, dtype));
        if (!config.TieEmbeddings)
            _lmHead = AddModule("lm_head", new Linear(config.DModel, config.PaddedVocabSize, gen, std: config.InitializerRange, dtype: dtype));
    }

    /// <summary>The configuration.</summary>
    public MambaConfig Config { get; }

    /// <summary>The backbone.</summary>
    public MambaBackbone Backbone { get; }

    /// <summary>The LM head weight [V_pad, D] (the embedding when tied).</summary>
    public Tensor HeadWeight => _lmHead?.Weight ?? Backbone.Embedding.Weight;

    /// <inheritdoc/>
    public override string Architecture => "mamba";

    /// <summary>Width of the logits: the vocabulary padded to <c>pad_vocab_size_multiple</c>.</summary>
    public override int VocabSize => Config.PaddedVocabSize;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor ids) => Forward(ids, (MambaCache?)null);

    /// <inheritdoc/>
    public override IDecodingCache NewCache(int batch) => new MambaCache(Backbone.Layers.Length, batch);

    /// <inheritdoc/>
    public override Tensor Forward(Tensor ids, IDecodingCache cache) =>
        Forward(ids, cache as MambaCache ?? throw new ArgumentException("mamba model: the cache was not made by a Mamba model", nameof(cache)));

    /// <summary>
    /// ids [B, T] (int64) → logits [B, T, V_pad]. With a cache, the first call prefills (the full forward, leaving
    /// the conv windows and SSM states in the cache) and later calls continue token by token.
    /// </summary>
    public Tensor Forward(Tensor ids, MambaCache? cache)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.DType != DType.Int64 || ids.Rank != 2 || ids.Shape[1] < 1)
            throw new ArgumentException($"mamba model: input ids must be int64 [B, T] with T ≥ 1, got {ids.DType.Name()} {ShapeUtil.Format(ids.Shape)}");
        if (cache is not null && cache.Batch != ids.Shape[0])
            throw new ArgumentException($"mamba model: the cache holds {cache.Batch} sequences but the ids have {ids.Shape[0]}");
        if (cache is not null && cache.Layers.Length != Backbone.Layers.Length)
            throw new ArgumentException($"mamba model: the cache has {cache.Layers.Length} layers, the model {Backbone.Layers.Length}");
        var h = Backbone.Forward(ids, cache);
        if (cache is not null) cache.Position += ids.Shape[1];
        return Tensor.Matmul(h, HeadWeight.MT);
    }

    /// <inheritdoc/>
    public override string ConfigJson() => Config.ToJson();

    /// <summary>The parameters under <c>mamba_ssm</c>'s names, plus <c>lm_head.weight</c> (a copy of the embedding)
    /// when tied, as <c>MambaLMHeadModel.state_dict()</c> holds it.</summary>
    public override IEnumerable<KeyValuePair<string, Tensor>> StateToSave()
    {
        foreach (var kv in base.StateToSave()) yield return kv;
        if (_lmHead is null) yield return new("lm_head.weight", Backbone.Embedding.Weight.Detach());
    }

    /// <inheritdoc/>
    public override void LoadSaved(IReadOnlyDictionary<string, Tensor> state) =>
        LoadStateDict(state, strict: true, ignore: _lmHead is null ? ["lm_head.weight"] : null);

    /// <summary>Mean next-token cross-entropy of logits [B, T, V] against labels [B, T].</summary>
    public static Tensor Loss(Tensor logits, Tensor labels) => NextTokenLoss(logits, labels);
}

/// <summary>The norm of the blocks and the final norm: RMSNorm, or LayerNorm when <c>rms_norm</c> is false.</summary>
internal static class MambaNorms
{
    public static Module Create(MambaConfig config, DType dtype) =>
        config.RmsNorm ? new RmsNorm(config.DModel, config.NormEpsilon, dtype) : new LayerNorm(config.DModel, config.NormEpsilon, dtype);

    public static Tensor Apply(Module norm, Tensor x) => norm switch
    {
        RmsNorm r => r.Forward(x),
        LayerNorm l => l.Forward(x),
        _ => throw new InvalidOperationException($"mamba: unexpected norm module {norm.GetType().Name}"),
    };
}
