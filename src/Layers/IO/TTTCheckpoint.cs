using Ttt.IO;
using Ttt.Models;

namespace Ttt.Models;

/// <summary>
/// A TTT model folder: <c>config.json</c> (official field names) and <c>model.safetensors</c> (official parameter
/// names, as <c>TTTForCausalLM.state_dict()</c> writes them), so checkpoints of the official PyTorch code load
/// directly and ours load there.
/// </summary>
public static class TTTCheckpoint
{
    /// <summary>File name of the configuration inside a model folder.</summary>
    public const string ConfigFile = "config.json";

    /// <summary>File name of the weights inside a model folder.</summary>
    public const string WeightsFile = "model.safetensors";

    /// <summary>
    /// Loads a model folder. Every tensor is validated against the config (missing, unexpected, wrong shape) and
    /// for NaN/Inf; errors name the file and the tensor. With tied embeddings a stored <c>lm_head.weight</c> must
    /// equal the embedding (the official state dict stores the shared tensor twice).
    /// </summary>
    public static TTTForCausalLM Load(string folder, DType dtype = DType.Float32, Func<int, InnerModel>? inner = null)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"model folder not found: {folder}");
        var config = TTTConfig.Load(Path.Combine(folder, ConfigFile));
        var weightsPath = Path.Combine(folder, WeightsFile);
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"weights not found: {weightsPath}", weightsPath);
        var model = new TTTForCausalLM(config, new Generator(0), inner, dtype);
        using var weights = SafeTensorFile.Load(weightsPath, dtype, checkFinite: true);
        var state = weights.ToDictionary(kv => kv.Key, kv => kv.Value);
        if (config.TieWordEmbeddings && state.TryGetValue("lm_head.weight", out var head)
            && state.TryGetValue("model.embed_tokens.weight", out var emb)
            && (!ShapeUtil.SameShape(head.Shape, emb.Shape) || !Tensor.AllEqual(head, emb)))
            throw new InvalidDataException($"{weightsPath}: tie_word_embeddings is true but 'lm_head.weight' differs from 'model.embed_tokens.weight'");
        try
        {
            model.LoadStateDict(state, strict: true, ignore: config.TieWordEmbeddings ? ["lm_head.weight"] : null);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{weightsPath}: {e.Message}", e);
        }
        return model;
    }

    /// <summary>
    /// Writes a model folder atomically (each file to a temporary name, flushed, then renamed). With tied
    /// embeddings <c>lm_head.weight</c> is written as a copy of the embedding, as the official state dict does.
    /// </summary>
    public static void Save(string folder, TTTForCausalLM model)
    {
        ArgumentNullException.ThrowIfNull(model);
        Directory.CreateDirectory(folder);
        AtomicFile.WriteAllText(Path.Combine(folder, ConfigFile), model.Config.ToJson());
        SafeTensorFile.Save(Path.Combine(folder, WeightsFile), StateForSaving(model), new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>The parameters under their official names, plus <c>lm_head.weight</c> when tied.</summary>
    public static IEnumerable<KeyValuePair<string, Tensor>> StateForSaving(TTTForCausalLM model)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (var (name, t) in model.NamedParameters()) yield return new(name, t.Detach());
        if (model.Config.TieWordEmbeddings) yield return new("lm_head.weight", model.HeadWeight.Detach());
    }
}
