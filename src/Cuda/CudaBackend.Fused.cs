using Ttt.Backends;
using Ttt.Cuda.Fused;

namespace Ttt.Cuda;

// The fused kernels the differentiable ops reach through the optional interfaces of Ttt.Backends (FusedKernels.cs):
// the ops keep their graph nodes and second-order fallbacks; these only compute.
public sealed partial class CudaBackend : IAttentionKernels, ISelectiveScanKernels, ITttDualKernels
{
    /// <inheritdoc/>
    public bool SupportsAttention(DType dtype, int headDim) =>
        dtype is DType.Float32 or DType.Float64 && headDim is >= 1 and <= FusedAttention.MaxHeadDim;

    /// <inheritdoc/>
    public (Tensor Output, Tensor LogSumExp) AttentionForward(Tensor q, Tensor k, Tensor v, bool causal, double scale) =>
        FusedAttention.Forward(q, k, v, causal, scale);

    /// <inheritdoc/>
    public (Tensor Dq, Tensor Dk, Tensor Dv) AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor output, Tensor logSumExp,
        Tensor dOutput, bool causal, double scale) =>
        FusedAttention.Backward(q, k, v, output, logSumExp, dOutput, causal, scale);

    /// <inheritdoc/>
    public bool SupportsSelectiveScan(DType dtype) => dtype is DType.Float32 or DType.Float64;

    /// <inheritdoc/>
    public (Tensor Y, Tensor? LastState) SelectiveScanForward(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d, bool wantLastState) =>
        FusedSelectiveScan.Forward(u, delta, a, b, c, d, wantLastState);

    /// <inheritdoc/>
    public Tensor[] SelectiveScanBackward(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d, Tensor dy) =>
        FusedSelectiveScan.Backward(u, delta, a, b, c, d, dy);

    /// <inheritdoc/>
    public bool SupportsTttDual(TttDualKind kind, DType dtype, int headDim, int miniBatch) =>
        FusedTttDual.Supports(kind, dtype, headDim, miniBatch);

    /// <inheritdoc/>
    public Tensor? TttDualForward(TttDualKind kind, IReadOnlyList<Tensor> theta0, Tensor q, Tensor k, Tensor v, Tensor lr, Tensor tau,
        Tensor gamma, Tensor beta, Tensor flat, bool saveStates) =>
        FusedTttDual.Forward(kind, theta0, q, k, v, lr, tau, gamma, beta, flat, saveStates);

    /// <inheritdoc/>
    public Tensor[] TttDualBackward(TttDualKind kind, Tensor q, Tensor k, Tensor v, Tensor lr, Tensor tau, Tensor gamma, Tensor beta,
        Tensor savedStates, Tensor dFlat) =>
        FusedTttDual.Backward(kind, q, k, v, lr, tau, gamma, beta, savedStates, dFlat);
}
