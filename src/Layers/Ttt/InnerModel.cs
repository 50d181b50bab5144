namespace Ttt.Models;

/// <summary>Shape and initialization of one parameter of an inner model (per head; stacked over heads as [H, …]).</summary>
/// <param name="Name">Name in the state dict (e.g. "W1").</param>
/// <param name="Shape">Per-head shape, given the head dim d.</param>
/// <param name="InitStd">Std of the normal init; 0 means zeros.</param>
public sealed record InnerParameter(string Name, Func<int, int[]> Shape, double InitStd);

/// <summary>
/// The model f_res inside a TTT layer, whose parameters θ are the hidden state (spec §1.4). The layer computes
/// f(x; θ) = x + LN_h(f_res(x; θ)) and trains θ on the reconstruction loss ½‖LN_h(f_res(k)) − (v − k)‖².
/// <para>Subclasses define the parameters and f_res. They may also supply the analytic dual form of one mini-batch
/// and analytic per-token gradients; otherwise the layer obtains the inner gradient from autograd (with
/// <c>createGraph</c>, so the outer loss differentiates through it). Any module written with differentiable ops
/// works: see <c>examples/</c>.</para>
/// </summary>
public abstract class InnerModel
{
    /// <summary>Short name ("linear", "mlp", …).</summary>
    public abstract string Kind { get; }

    /// <summary>The parameters of θ, in state-dict order.</summary>
    public abstract IReadOnlyList<InnerParameter> Parameters { get; }

    /// <summary>
    /// f_res(x; θ). x: [..., N, d]; each θᵢ: [..., shapeᵢ] with leading dims that broadcast against x's
    /// (batch, head and, for per-token states, a token dim). Returns [..., N, d].
    /// </summary>
    public abstract Tensor Forward(IReadOnlyList<Tensor> theta, Tensor x);

    /// <summary>
    /// The analytic dual form of one mini-batch (spec §1.7/§1.8), or null to use the autograd path.
    /// Q, K, V: [B, H, K, d]; E: [B, H, K, K]; γ, β: [H, d]; θᵢ: [B, H, shapeᵢ].
    /// Returns the outputs f(q; θ_i) [B, H, K, d] and the carried state θ_{K−1}. <paramref name="objective"/> (null:
    /// official) switches the LayerNorm and residual inside f off for ablations.
    /// </summary>
    public virtual (Tensor Output, Tensor[] State)? DualMiniBatch(IReadOnlyList<Tensor> theta, Tensor q, Tensor k, Tensor v, Tensor eta, Tensor gamma, Tensor beta, InnerObjective? objective = null) => null;

    /// <summary>
    /// Analytic per-token gradients ∇θ ℓ_j at θ for tokens k [B, H, N, d] with targets [B, H, N, d]: one tensor
    /// per parameter, [B, H, N, shapeᵢ]; or null to use autograd.
    /// </summary>
    public virtual Tensor[]? TokenGradients(IReadOnlyList<Tensor> theta, Tensor k, Tensor target, Tensor gamma, Tensor beta, InnerObjective? objective = null) => null;
}

/// <summary>TTT-Linear: f_res(x) = x·W1 + b1 with W1 [d, d], b1 [1, d] (without b1 when <see cref="UseBias"/> is off).</summary>
public sealed class LinearInner : InnerModel
{
    /// <summary>The bias b1 (official, true); false gives the paper's plain f(x) = x·W of its linear-attention ablation.</summary>
    public bool UseBias { get; init; } = true;

    /// <inheritdoc/>
    public override string Kind => "linear";

    /// <inheritdoc/>
    public override IReadOnlyList<InnerParameter> Parameters => UseBias ? s_withBias : s_withoutBias;

    private static readonly InnerParameter[] s_withBias = [new("W1", d => [d, d], 0.02), new("b1", d => [1, d], 0)];
    private static readonly InnerParameter[] s_withoutBias = [s_withBias[0]];

    /// <inheritdoc/>
    public override Tensor Forward(IReadOnlyList<Tensor> theta, Tensor x)
    {
        ArgumentNullException.ThrowIfNull(theta);
        return UseBias ? Tensor.Matmul(x, theta[0]) + theta[1] : Tensor.Matmul(x, theta[0]);
    }

    /// <inheritdoc/>
    public override (Tensor Output, Tensor[] State)? DualMiniBatch(IReadOnlyList<Tensor> theta, Tensor q, Tensor k, Tensor v, Tensor eta, Tensor gamma, Tensor beta, InnerObjective? objective = null)
    {
        ArgumentNullException.ThrowIfNull(theta);
        objective ??= InnerObjective.Official;
        if (!UseBias) return DualMiniBatchWithoutBias(theta[0], q, k, v, eta, gamma, beta, objective);
        Tensor w = theta[0], b = theta[1];
        int kLen = k.Shape[2];
        var z = Tensor.Matmul(k, w) + b;                                   // [B,H,K,d] predictions at the start state
        var g = objective.Gradient(z, objective.Target(k, v), gamma, beta); // [B,H,K,d] ∂ℓ_j/∂z_j
        var attn = Tensor.Matmul(q, k.MT).Tril();                          // [B,H,K,K] tril(Q·Kᵀ)
        var bBar = b - Tensor.Matmul(eta.Tril(), g);                       // [B,H,K,d] bias after i+1 updates
        var zBar = Tensor.Matmul(q, w) - Tensor.Matmul(eta * attn, g) + bBar; // q_i·W_i + b_i
        var output = objective.Output(q, zBar, gamma, beta);
        var last = eta.Select(2, kLen - 1).Unsqueeze(-1);                  // [B,H,K,1] e_j = E[K−1, j]
        var wNext = w - Tensor.Matmul((last * k).MT, g);                   // W − Kᵀ diag(e) G
        var bNext = b - (last * g).Sum(2, keepDim: true);                  // b − eᵀG
        return (output, [wNext, bNext]);
    }

    /// <summary>The dual form above with b = 0 throughout (no bias parameter, no bias state).</summary>
    private static (Tensor Output, Tensor[] State) DualMiniBatchWithoutBias(Tensor w, Tensor q, Tensor k, Tensor v, Tensor eta, Tensor gamma, Tensor beta, InnerObjective objective)
    {
        int kLen = k.Shape[2];
        var g = objective.Gradient(Tensor.Matmul(k, w), objective.Target(k, v), gamma, beta); // [B,H,K,d]
        var attn = Tensor.Matmul(q, k.MT).Tril();                          // [B,H,K,K]
        var zBar = Tensor.Matmul(q, w) - Tensor.Matmul(eta * attn, g);     // q_i·W_i
        var last = eta.Select(2, kLen - 1).Unsqueeze(-1);                  // [B,H,K,1]
        return (objective.Output(q, zBar, gamma, beta), [w - Tensor.Matmul((last * k).MT, g)]);
    }

    /// <inheritdoc/>
    public override Tensor[]? TokenGradients(IReadOnlyList<Tensor> theta, Tensor k, Tensor target, Tensor gamma, Tensor beta, InnerObjective? objective = null)
    {
        ArgumentNullException.ThrowIfNull(theta);
        var z = Forward(theta, k);
        var g = (objective ?? InnerObjective.Official).Gradient(z, target, gamma, beta); // [B,H,N,d]
        // ∇W ℓ_j = k_jᵀ g_j (outer product), ∇b ℓ_j = g_j
        var gradW = k.Unsqueeze(-1) * g.Unsqueeze(-2);
        return UseBias ? [gradW, g.Unsqueeze(-2)] : [gradW];
    }
}

/// <summary>
/// TTT-MLP: f_res(x) = GELU(x·W1 + b1)·W2 + b2 with W1 [d, 4d], W2 [4d, d] (tanh GELU). Its analytic gradient
/// uses the official hand-written GELU derivative (truncated constants), as the golden cases do.
/// </summary>
public sealed class MlpInner : InnerModel
{
    /// <inheritdoc/>
    public override string Kind => "mlp";

    /// <summary>
    /// Use the exact GELU derivative in the analytic gradient instead of the official truncated constants
    /// (default false, as the official code and the golden cases). With it the dual form equals the autograd
    /// inner loop to rounding; without it they differ by about 1e-10 relative.
    /// </summary>
    public bool ExactGeluDerivative { get; init; }

    private Tensor GeluPrime(Tensor z) => ExactGeluDerivative ? z.GeluDerivative() : TttMath.GeluBackwardOfficial(z);

    /// <inheritdoc/>
    public override IReadOnlyList<InnerParameter> Parameters { get; } =
    [
        new("W1", d => [d, 4 * d], 0.02),
        new("b1", d => [1, 4 * d], 0),
        new("W2", d => [4 * d, d], 0.02),
        new("b2", d => [1, d], 0),
    ];

    /// <inheritdoc/>
    public override Tensor Forward(IReadOnlyList<Tensor> theta, Tensor x) =>
        Tensor.Matmul((Tensor.Matmul(x, theta[0]) + theta[1]).Gelu(), theta[2]) + theta[3];

    /// <inheritdoc/>
    public override (Tensor Output, Tensor[] State)? DualMiniBatch(IReadOnlyList<Tensor> theta, Tensor q, Tensor k, Tensor v, Tensor eta, Tensor gamma, Tensor beta, InnerObjective? objective = null)
    {
        ArgumentNullException.ThrowIfNull(theta);
        objective ??= InnerObjective.Official;
        Tensor w1 = theta[0], b1 = theta[1], w2 = theta[2], b2 = theta[3];
        int kLen = k.Shape[2];
        var z1 = Tensor.Matmul(k, w1) + b1;                                // [B,H,K,4d]
        var x2 = z1.Gelu();
        var z2 = Tensor.Matmul(x2, w2) + b2;                               // [B,H,K,d]
        var g2 = objective.Gradient(z2, objective.Target(k, v), gamma, beta); // ∂ℓ/∂Z2
        var g1 = Tensor.Matmul(g2, w2.MT) * GeluPrime(z1);              // ∂ℓ/∂Z1
        var etaTril = eta.Tril();
        var attn1 = Tensor.Matmul(q, k.MT).Tril();
        var b1Bar = b1 - Tensor.Matmul(etaTril, g1);
        var z1Bar = Tensor.Matmul(q, w1) - Tensor.Matmul(eta * attn1, g1) + b1Bar;
        var x2Bar = z1Bar.Gelu();
        var attn2 = Tensor.Matmul(x2Bar, x2.MT).Tril();                    // updated vs training activations
        var b2Bar = b2 - Tensor.Matmul(etaTril, g2);
        var z2Bar = Tensor.Matmul(x2Bar, w2) - Tensor.Matmul(eta * attn2, g2) + b2Bar;
        var output = objective.Output(q, z2Bar, gamma, beta);
        var last = eta.Select(2, kLen - 1).Unsqueeze(-1);                  // [B,H,K,1]
        return (output,
        [
            w1 - Tensor.Matmul((last * k).MT, g1),
            b1 - (last * g1).Sum(2, keepDim: true),
            w2 - Tensor.Matmul((last * x2).MT, g2),
            b2 - (last * g2).Sum(2, keepDim: true),
        ]);
    }

    /// <inheritdoc/>
    public override Tensor[]? TokenGradients(IReadOnlyList<Tensor> theta, Tensor k, Tensor target, Tensor gamma, Tensor beta, InnerObjective? objective = null)
    {
        ArgumentNullException.ThrowIfNull(theta);
        var z1 = Tensor.Matmul(k, theta[0]) + theta[1];
        var x2 = z1.Gelu();
        var z2 = Tensor.Matmul(x2, theta[2]) + theta[3];
        var g2 = (objective ?? InnerObjective.Official).Gradient(z2, target, gamma, beta);
        var g1 = Tensor.Matmul(g2, theta[2].MT) * GeluPrime(z1);
        return [k.Unsqueeze(-1) * g1.Unsqueeze(-2), g1.Unsqueeze(-2), x2.Unsqueeze(-1) * g2.Unsqueeze(-2), g2.Unsqueeze(-2)];
    }
}

/// <summary>
/// A gated linear inner model, not in the official code: f_res(x) = (x·Wv + bv) ⊙ σ(x·Wg + bg), with
/// Wv, Wg [d, d] (Wv ~ N(0, 0.02), Wg = 0 so the gate starts at ½ everywhere). It has no hand-written dual form:
/// the layer trains it with the autograd inner loop (gradients of gradients).
/// </summary>
public sealed class GatedLinearInner : InnerModel
{
    /// <inheritdoc/>
    public override string Kind => "gated-linear";

    /// <inheritdoc/>
    public override IReadOnlyList<InnerParameter> Parameters { get; } =
    [
        new("Wv", d => [d, d], 0.02),
        new("bv", d => [1, d], 0),
        new("Wg", d => [d, d], 0),
        new("bg", d => [1, d], 0),
    ];

    /// <inheritdoc/>
    public override Tensor Forward(IReadOnlyList<Tensor> theta, Tensor x) =>
        (Tensor.Matmul(x, theta[0]) + theta[1]) * (Tensor.Matmul(x, theta[2]) + theta[3]).Sigmoid();
}
