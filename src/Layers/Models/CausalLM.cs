using Ttt.Nn;

namespace Ttt.Models;

/// <summary>
/// The state a causal language model carries between decoding calls (TTT: inner states and conv windows;
/// Transformer: keys and values; Mamba: the SSM state and conv window). <see cref="Position"/> counts the tokens
/// processed so far.
/// </summary>
public interface IDecodingCache
{
    /// <summary>Tokens processed so far.</summary>
    long Position { get; }
}

/// <summary>
/// Base class of every language model the trainer and the <c>ttt</c> command work with (TTT, Transformer, Mamba).
/// </summary>
public abstract class CausalLM : Module
{
    /// <summary>"ttt", "transformer" or "mamba": the <c>model_type</c> written to config.json.</summary>
    public abstract string Architecture { get; }

    /// <summary>Vocabulary size V.</summary>
    public abstract int VocabSize { get; }

    /// <summary>ids [B, T] (int64) → logits [B, T, V].</summary>
    public abstract Tensor Forward(Tensor ids);

    /// <summary>An empty decoding cache for a batch of <paramref name="batch"/> sequences.</summary>
    public abstract IDecodingCache NewCache(int batch);

    /// <summary>
    /// Runs ids [B, T] with a decoding cache: the first call prefills, later calls continue (usually one token at a
    /// time, with work and memory per token independent of the context length for TTT and Mamba). Returns the
    /// logits [B, T, V] of the new tokens; they equal the full-sequence forward's.
    /// </summary>
    public abstract Tensor Forward(Tensor ids, IDecodingCache cache);

    /// <summary>The model's config.json text.</summary>
    public abstract string ConfigJson();

    /// <summary>Parameters under the names to save (official names; tied heads included as the checkpoint format wants).</summary>
    public virtual IEnumerable<KeyValuePair<string, Tensor>> StateToSave() =>
        NamedParameters().Select(p => new KeyValuePair<string, Tensor>(p.Name, p.Tensor.Detach()));

    /// <summary>Loads parameters saved by <see cref="StateToSave"/> (strict: missing/unexpected names are errors).</summary>
    public virtual void LoadSaved(IReadOnlyDictionary<string, Tensor> state) => LoadStateDict(state);

    /// <summary>Mean next-token cross-entropy of logits [B, T, V] against labels [B, T] (ignoring −100):
    /// position t predicts labels[t + 1].</summary>
    public static Tensor NextTokenLoss(Tensor logits, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(labels);
        int t = logits.Shape[1];
        return Tensor.FusedCrossEntropy(logits.Narrow(1, 0, t - 1), labels.Narrow(1, 1, t - 1));
    }
}
