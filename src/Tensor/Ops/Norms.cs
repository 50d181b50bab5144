namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// LayerNorm over the last dim: (x − mean)/√(var + eps)·weight + bias with the biased variance; weight and
    /// bias of shape [D] or null. Composed from differentiable primitives (the oracle for fused kernels).
    /// </summary>
    public Tensor LayerNorm(Tensor? weight, Tensor? bias, double eps = 1e-5)
    {
        CheckFloat("layer_norm");
        int dim = _shape.Length > 0 ? _shape[^1] : throw new ArgumentException("layer_norm: input needs at least one dim");
        CheckNormParam("layer_norm", weight, dim, "weight");
        CheckNormParam("layer_norm", bias, dim, "bias");
        var mean = Mean(-1, keepDim: true);
        var centered = this - mean;
        var variance = (centered * centered).Mean(-1, keepDim: true);
        var y = centered * (variance + eps).Rsqrt();
        if (weight is not null) y *= weight;
        if (bias is not null) y += bias;
        return y;
    }

    /// <summary>RMSNorm over the last dim: x/√(mean(x²) + eps)·weight. Composed from differentiable primitives.</summary>
    public Tensor RmsNorm(Tensor? weight, double eps = 1e-6)
    {
        CheckFloat("rms_norm");
        int dim = _shape.Length > 0 ? _shape[^1] : throw new ArgumentException("rms_norm: input needs at least one dim");
        CheckNormParam("rms_norm", weight, dim, "weight");
        var y = this * ((this * this).Mean(-1, keepDim: true) + eps).Rsqrt();
        return weight is null ? y : y * weight;
    }

    private void CheckNormParam(string op, Tensor? p, int dim, string name)
    {
        if (p is null) return;
        CheckCompatible(op, p);
        if (p.Rank != 1 || p._shape[0] != dim)
            throw new ArgumentException($"{op}: {name} has shape {ShapeUtil.Format(p._shape)}, expected [{dim}] for input {ShapeUtil.Format(_shape)}");
    }
}
