namespace Ttt.Models;

/// <summary>
/// The pieces of TTT's self-supervised inner step (spec §1.4–1.5), composed from differentiable ops. Tensors are
/// per head: [B, H, …, d] with per-head LayerNorm parameters γ, β of shape [H, d].
/// </summary>
internal static class TttMath
{
    /// <summary>Epsilon of the LayerNorms inside TTT (f's LN and post_norm), fixed by the official code.</summary>
    public const double LnEps = 1e-6;

    /// <summary>γ or β [H, d] reshaped to broadcast against x [B, H, …, d].</summary>
    public static Tensor PerHead(Tensor p, int rank)
    {
        ArgumentNullException.ThrowIfNull(p);
        var shape = Enumerable.Repeat(1, rank).ToArray();
        shape[1] = p.Shape[0];
        shape[^1] = p.Shape[1];
        return p.Reshape(shape);
    }

    /// <summary>Per-head LayerNorm over the last dim (biased variance, eps 1e-6): γ·(x − μ)/√(σ² + eps) + β.</summary>
    public static Tensor LayerNorm(Tensor x, Tensor gamma, Tensor beta)
    {
        ArgumentNullException.ThrowIfNull(x);
        var mu = x.Mean(-1, keepDim: true);
        var centered = x - mu;
        var std = ((centered * centered).Mean(-1, keepDim: true) + LnEps).Sqrt();
        return PerHead(gamma, x.Rank) * (centered / std) + PerHead(beta, x.Rank);
    }

    /// <summary>
    /// Gradient of ℓ = ½‖LN(z) − target‖² with respect to z, "LayerNorm fused with L2" (spec §1.5):
    /// g = γ ⊙ (LN(z) − target); ∂ℓ/∂z = (d·g − Σg − x̂·Σ(g ⊙ x̂)) / (d·s), s = √(σ² + eps).
    /// Differentiable, so the outer loss can differentiate through it (gradient of a gradient).
    /// </summary>
    public static Tensor LnL2Grad(Tensor z, Tensor target, Tensor gamma, Tensor beta)
    {
        ArgumentNullException.ThrowIfNull(z);
        int d = z.Shape[^1];
        var g4 = PerHead(gamma, z.Rank);
        var mu = z.Mean(-1, keepDim: true);
        var centered = z - mu;
        var std = ((centered * centered).Mean(-1, keepDim: true) + LnEps).Sqrt();
        var xhat = centered / std;
        var y = g4 * xhat + PerHead(beta, z.Rank);
        var gradXhat = (y - target) * g4;
        return (gradXhat * d - gradXhat.Sum(-1, keepDim: true) - xhat * (gradXhat * xhat).Sum(-1, keepDim: true)) / (std * d);
    }

    /// <summary>
    /// The official hand-written GELU derivative used for TTT-MLP's G1, with its truncated constants
    /// (0.79788456 and 0.1070322243; spec §1.4 as corrected): ½x(1 − t²)(0.79788456 + 0.1070322243x²) + ½(1 + t),
    /// t = tanh(0.79788456·x·(1 + 0.044715x²)).
    /// </summary>
    public static Tensor GeluBackwardOfficial(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var x2 = x * x;
        var t = (x * (x2 * 0.044715 + 1) * 0.79788456).Tanh();
        return x * (1 - t * t) * (x2 * 0.1070322243 + 0.79788456) * 0.5 + (t + 1) * 0.5;
    }
}
