using Ttt.Models;
using Ttt.Nn;

namespace Ttt.Tests;

/// <summary>Builds small float64 TTT layers and models whose every parameter is moved off its trivial init.</summary>
public static class LayerTestSupport
{
    public static TTTConfig Config(int hidden, int heads, int k, string inner, bool mamba, int layers = 1, int vocab = 13) => new()
    {
        VocabSize = vocab,
        HiddenSize = hidden,
        IntermediateSize = 2 * hidden,
        NumHiddenLayers = layers,
        NumAttentionHeads = heads,
        MiniBatchSize = k,
        TttLayerType = inner == "mlp" ? "mlp" : "linear",
        TttBaseLr = inner == "mlp" ? 0.1 : 1.0,
        PreConv = mamba,
        ShareQk = mamba,
        UseGate = mamba,
        ConvKernel = 3,
    };

    public static InnerModel Inner(string kind) => kind switch
    {
        "mlp" => new MlpInner { ExactGeluDerivative = true },
        "gated" => new GatedLinearInner(),
        _ => new LinearInner(),
    };

    /// <summary>
    /// Sets every parameter to random values so that each term of the computation matters: weights N(0, s²)
    /// scaled by fan-in, norm scales around 1, biases and offsets small and non-zero.
    /// </summary>
    public static void Randomize(Module module, ulong seed)
    {
        var gen = new Generator(seed);
        using var _ = GradMode.Disable();
        foreach (var (name, p) in module.NamedParameters())
        {
            var shape = p.ShapeArray();
            Tensor v;
            if (name.EndsWith("norm_weight", StringComparison.Ordinal) || name.EndsWith("norm.weight", StringComparison.Ordinal) || name.EndsWith("_norm.weight", StringComparison.Ordinal))
                v = Tensor.RandN(shape, gen, p.DType, 1, 0.2);
            else if (name.EndsWith("learnable_token_idx", StringComparison.Ordinal))
                v = Tensor.RandN(shape, gen, p.DType, 0, 0.1);
            else if (shape.Length >= 2 && !name.Contains("conv", StringComparison.Ordinal))
                v = Tensor.RandN(shape, gen, p.DType, 0, 1.0 / Math.Sqrt(shape[^1]));
            else
                v = Tensor.RandN(shape, gen, p.DType, 0, 0.3);
            p.CopyFrom(v);
        }
    }

    /// <summary>max|a − e| / max|e|.</summary>
    public static double Rel(Tensor e, Tensor a) => Fixtures.RelError(e, a);
}
