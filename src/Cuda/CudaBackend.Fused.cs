using Ttt.Backends;
using Ttt.Cuda.Fused;

namespace Ttt.Cuda;

// The fused kernels the differentiable ops reach through the optional interfaces of Ttt.Backends (FusedKernels.cs):
// the ops keep their graph nodes and second-order fallbacks; these only compute.
public sealed partial class CudaBackend : IAttentionKernels
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
}
