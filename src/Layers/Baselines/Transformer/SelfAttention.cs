using Ttt.Nn;

namespace Ttt.Models;

/// <summary>
/// Multi-head causal softmax self-attention of the Transformer baseline (Llama <c>self_attn</c>): q, k, v, o
/// projections D → D without bias, RoPE (interleaved pairs) on q and k at absolute positions, scale 1/√d, and the
/// blockwise attention op (memory linear in T). With a <see cref="KeyValueCache"/> the new queries attend to every
/// cached key as well (decoding).
/// </summary>
public sealed class SelfAttention : Module
{
    /// <summary>Creates the layer; weights ~ N(0, initializer_range²) drawn from <paramref name="gen"/> in the order q, k, v, o.</summary>
    public SelfAttention(TransformerConfig config, Generator gen, DType dtype)
    {
        ArgumentNullException.ThrowIfNull(config);
        int d = config.HiddenSize;
        double std = config.InitializerRange;
        Heads = config.NumAttentionHeads;
        HeadDim = config.HeadDim;
        QProj = AddModule("q_proj", new Linear(d, d, gen, std: std, dtype: dtype));
        KProj = AddModule("k_proj", new Linear(d, d, gen, std: std, dtype: dtype));
        VProj = AddModule("v_proj", new Linear(d, d, gen, std: std, dtype: dtype));
        OProj = AddModule("o_proj", new Linear(d, d, gen, std: std, dtype: dtype));
    }

    /// <summary>Heads H.</summary>
    public int Heads { get; }

    /// <summary>Head dim d.</summary>
    public int HeadDim { get; }

    /// <summary>Query projection.</summary>
    public Linear QProj { get; }
    /// <summary>Key projection.</summary>
    public Linear KProj { get; }
    /// <summary>Value projection.</summary>
    public Linear VProj { get; }
    /// <summary>Output projection.</summary>
    public Linear OProj { get; }

    /// <summary>
    /// x [B, T, D] at positions p₀ … p₀+T−1 → [B, T, D]. <paramref name="cos"/> and <paramref name="sin"/> are the RoPE
    /// tables of those positions, [T, d/2]. Without a cache the T tokens attend causally among themselves; with one,
    /// their keys and values are appended to it and they attend to everything cached (p₀ = tokens cached before).
    /// </summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, KeyValueCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(cos);
        ArgumentNullException.ThrowIfNull(sin);
        int b = x.Shape[0], t = x.Shape[1], width = x.Shape[2];
        // Tables [T, d/2] → [T, 1, d/2] so they broadcast over the heads of [B, T, H, d/2].
        var c = cos.Reshape(t, 1, HeadDim / 2);
        var s = sin.Reshape(t, 1, HeadDim / 2);
        var q = Rope.Apply(QProj.Forward(x).Reshape(b, t, Heads, HeadDim), c, s).Transpose(1, 2); // [B, H, T, d] view
        var k = Rope.Apply(KProj.Forward(x).Reshape(b, t, Heads, HeadDim), c, s).Transpose(1, 2); // [B, H, T, d] view
        var v = VProj.Forward(x).Reshape(b, t, Heads, HeadDim).Transpose(1, 2);                   // [B, H, T, d] view
        if (cache is not null) (k, v) = cache.Append(k, v);                                       // [B, H, L, d]
        // Queries are the last T positions of the key sequence: causal masking aligns them to its end.
        var y = Tensor.BlockwiseAttention(q, k, v, causal: true, scale: 1 / Math.Sqrt(HeadDim));   // [B, H, T, d]
        return OProj.Forward(y.Transpose(1, 2).Reshape(b, t, width));
    }
}

/// <summary>
/// The keys and values one attention layer has seen, [B, H, L, d] each. In no-grad decoding they live in a buffer
/// with spare capacity (doubled when full), so a step copies only the new token's key and value; when the step is
/// recorded for autograd the cache grows by concatenation instead, leaving earlier recorded tensors untouched.
/// </summary>
public sealed class KeyValueCache
{
    private Tensor? _keys, _values; // [B, H, capacity, d] buffers (owned) or the last concatenation (not owned)
    private bool _ownsStorage;

    /// <summary>Tokens cached (L).</summary>
    public int Length { get; private set; }

    /// <summary>The cached keys [B, H, L, d] (null while empty).</summary>
    public Tensor? Keys => _keys?.Narrow(2, 0, Length);

    /// <summary>The cached values [B, H, L, d] (null while empty).</summary>
    public Tensor? Values => _values?.Narrow(2, 0, Length);

    /// <summary>Appends keys and values [B, H, T, d]; returns all of them, [B, H, L + T, d].</summary>
    public (Tensor Keys, Tensor Values) Append(Tensor keys, Tensor values)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(values);
        int t = keys.Shape[2];
        if (_keys is not null && (keys.Shape[0] != _keys.Shape[0] || keys.Shape[1] != _keys.Shape[1] || keys.Shape[3] != _keys.Shape[3]))
            throw new ArgumentException($"kv cache: new keys {ShapeUtil.Format(keys.Shape)} do not match the cached {ShapeUtil.Format(_keys.Shape)} in batch, heads or head dim");
        bool recording = GradMode.IsEnabled && (keys.RequiresGrad || values.RequiresGrad);
        if (recording)
        {
            _keys = Length == 0 ? keys : Tensor.Cat([Keys!, keys], 2);
            _values = Length == 0 ? values : Tensor.Cat([Values!, values], 2);
            _ownsStorage = false;
            Length += t;
            return (_keys, _values);
        }
        if (!_ownsStorage || _keys!.Shape[2] < Length + t)
        {
            // (Re)allocate with room to spare; the old contents move over.
            int capacity = Math.Max(Length + t, Math.Max(16, 2 * Length));
            int[] shape = [keys.Shape[0], keys.Shape[1], capacity, keys.Shape[3]];
            var newKeys = Tensor.Empty(shape, keys.DType, keys.Device);
            var newValues = Tensor.Empty(shape, values.DType, values.Device);
            if (Length > 0)
            {
                newKeys.Narrow(2, 0, Length).CopyFrom(Keys!.Detach());
                newValues.Narrow(2, 0, Length).CopyFrom(Values!.Detach());
            }
            (_keys, _values, _ownsStorage) = (newKeys, newValues, true);
        }
        _keys.Narrow(2, Length, t).CopyFrom(keys.Detach());
        _values!.Narrow(2, Length, t).CopyFrom(values.Detach());
        Length += t;
        return (Keys!, Values!);
    }
}
