namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// Causal depthwise 1-D convolution over time of x [B, T, C] with weight [C, 1, W] (one filter per channel,
    /// PyTorch layout) and optional bias [C]: y[b, t, c] = bias[c] + Σₖ weight[c, 0, k]·x[b, t − (W−1) + k, c],
    /// with x = 0 before t = 0. Composed from pad, narrow, multiply and add.
    /// </summary>
    public Tensor CausalConv1d(Tensor weight, Tensor? bias)
    {
        ArgumentNullException.ThrowIfNull(weight);
        CheckFloat("causal_conv1d");
        CheckCompatible("causal_conv1d", weight);
        if (Rank != 3) throw new ArgumentException($"causal_conv1d: input must be [B, T, C], got {ShapeUtil.Format(_shape)}");
        int t = _shape[1], c = _shape[2];
        if (weight.Rank != 3 || weight._shape[0] != c || weight._shape[1] != 1)
            throw new ArgumentException($"causal_conv1d: weight must be [C, 1, W] with C = {c}, got {ShapeUtil.Format(weight._shape)} for input {ShapeUtil.Format(_shape)}");
        if (bias is not null) CheckNormParam("causal_conv1d", bias, c, "bias");
        int width = weight._shape[2];
        var padded = Pad(1, width - 1, 0);                       // [B, T+W−1, C]
        var w = weight.Reshape(c, width).MT;                     // [W, C]
        Tensor? y = null;
        for (int k = 0; k < width; k++)
        {
            var term = padded.Narrow(1, k, t) * w.Select(0, k);  // [B, T, C] ⊙ [C]
            y = y is null ? term : y + term;
        }
        return bias is null ? y! : y! + bias;
    }
}
