namespace Ttt.Backends;

/// <summary>
/// Optional fused kernels a backend may offer besides the <see cref="IBackend"/> primitives. An op checks whether
/// the backend of its tensors implements one of these interfaces (and <c>Supports…</c> the case) and otherwise falls
/// back to its composed form. The CPU fast path is wired in by the ops themselves; the CUDA backend (Ttt.Cuda)
/// implements these so that the ops, which cannot reference it, reach its kernels. Inputs are already validated by
/// the op (shapes, dtype, one device); outputs are fresh dense tensors on the same device. None of these methods
/// records autograd: the op owns the graph node and calls the backward itself.
/// </summary>
public interface IAttentionKernels
{
    /// <summary>Whether <see cref="AttentionForward"/> handles this dtype and head dim.</summary>
    bool SupportsAttention(DType dtype, int headDim);

    /// <summary>
    /// Blockwise softmax attention: q [B, H, Tq, d], k and v [B, H, Tk, d] (any strides) → o [B, H, Tq, d] and the
    /// row log-sum-exp lse [B, H, Tq] of scale·q·kᵀ (masked), the causal alignment of
    /// <see cref="Tensor.BlockwiseAttention(Tensor, Tensor, Tensor, bool, double?)"/>.
    /// </summary>
    (Tensor Output, Tensor LogSumExp) AttentionForward(Tensor q, Tensor k, Tensor v, bool causal, double scale);

    /// <summary>dq, dk, dv from the forward's inputs, its o and lse, and the output gradient dO.</summary>
    (Tensor Dq, Tensor Dk, Tensor Dv) AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor output, Tensor logSumExp,
        Tensor dOutput, bool causal, double scale);
}

/// <summary>
/// The selective scan of Mamba-1 (see Ttt.Models.SelectiveScan): u, Δ [B, L, E]; A [E, N]; B, C [B, L, N]; D [E].
/// </summary>
public interface ISelectiveScanKernels
{
    /// <summary>Whether the kernels handle this dtype.</summary>
    bool SupportsSelectiveScan(DType dtype);

    /// <summary>y [B, L, E] and, when <paramref name="wantLastState"/>, the final state h_L [B, E, N].</summary>
    (Tensor Y, Tensor? LastState) SelectiveScanForward(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d, bool wantLastState);

    /// <summary>The gradients du, dΔ, dA, dB, dC, dD for the output gradient dy [B, L, E].</summary>
    Tensor[] SelectiveScanBackward(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d, Tensor dy);
}

/// <summary>Which inner model a fused TTT dual-form scan runs.</summary>
public enum TttDualKind
{
    /// <summary>TTT-Linear: θ = (W1 [d, d], b1 [1, d]).</summary>
    Linear,
    /// <summary>TTT-MLP with the official truncated GELU derivative: θ = (W1 [d, 4d], b1 [1, 4d], W2 [4d, d], b2 [1, d]).</summary>
    Mlp,
    /// <summary>TTT-MLP with the exact GELU derivative.</summary>
    MlpExactGelu,
}

/// <summary>
/// The dual-form scan of TTT-Linear / TTT-MLP over a whole sequence (see Ttt.Models.TttFused): ⌊T/K⌋ mini-batches of
/// K tokens and a remainder that uses τ[:T mod K]. θ₀ tensors are [B, H, …] (dense, already expanded over the batch);
/// q, k, v [B, H, T, d]; lr [B, H, T]; τ [K]; γ, β [H, d]. The op's one output is a flat tensor
/// [output [B, H, T, d] | final state, [B, H, …] per parameter] (how Ttt.Models.TttFused returns several outputs
/// from one graph node).
/// </summary>
public interface ITttDualKernels
{
    /// <summary>Whether the kernels handle this inner model, dtype, head dim and mini-batch size.</summary>
    bool SupportsTttDual(TttDualKind kind, DType dtype, int headDim, int miniBatch);

    /// <summary>
    /// Writes the outputs q + LN(z̄) and the final state into <paramref name="flat"/>; returns the states at every
    /// mini-batch start (what the backward needs) when <paramref name="saveStates"/>, else null.
    /// </summary>
    Tensor? TttDualForward(TttDualKind kind, IReadOnlyList<Tensor> theta0, Tensor q, Tensor k, Tensor v, Tensor lr, Tensor tau,
        Tensor gamma, Tensor beta, Tensor flat, bool saveStates);

    /// <summary>
    /// Gradients of every input, in the order θ₀… ([B, H, …]), q, k, v, lr, τ, γ, β, for the gradient
    /// <paramref name="dFlat"/> of the flat output, given the states the forward saved.
    /// </summary>
    Tensor[] TttDualBackward(TttDualKind kind, Tensor q, Tensor k, Tensor v, Tensor lr, Tensor tau, Tensor gamma, Tensor beta,
        Tensor savedStates, Tensor dFlat);
}
