namespace Ttt.Models;

/// <summary>
/// How f wraps f_res (spec §1.4 and the ablations of the paper's Table 1): f(x) = [x +] [LN_h](f_res(x)). The inner
/// loss is ½‖[LN_h](f_res(k)) − target‖² with target v − k when the residual is on and v when it is off; the output
/// for a test view q is [q +] [LN_h](f_res(q; θ_i)). <see cref="Official"/> (both on) is what the paper trains.
/// </summary>
/// <param name="LayerNorm">The per-head LayerNorm inside f.</param>
/// <param name="Residual">The residual inside f.</param>
public sealed record InnerObjective(bool LayerNorm = true, bool Residual = true)
{
    /// <summary>LayerNorm and residual on (the official f).</summary>
    public static InnerObjective Official { get; } = new();

    /// <summary>True for <see cref="Official"/>.</summary>
    public bool IsOfficial => LayerNorm && Residual;

    /// <summary>The reconstruction target for training views k and label views v: v − k (residual) or v.</summary>
    public Tensor Target(Tensor k, Tensor v) => Residual ? v - k : v;

    /// <summary>[LN_h](z): what is compared with the target.</summary>
    public Tensor Head(Tensor z, Tensor gamma, Tensor beta) => LayerNorm ? TttMath.LayerNorm(z, gamma, beta) : z;

    /// <summary>∂ℓ/∂z of ℓ = ½‖Head(z) − target‖²: the LN-fused gradient, or z − target without LN.</summary>
    public Tensor Gradient(Tensor z, Tensor target, Tensor gamma, Tensor beta) =>
        LayerNorm ? TttMath.LnL2Grad(z, target, gamma, beta) : z - target;

    /// <summary>The layer's output for test views q and z = f_res(q; θ_i): [q +] Head(z).</summary>
    public Tensor Output(Tensor q, Tensor z, Tensor gamma, Tensor beta) => Residual ? q + Head(z, gamma, beta) : Head(z, gamma, beta);
}
