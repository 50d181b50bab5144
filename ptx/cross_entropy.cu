// Cross-entropy family (fused log-softmax + negative log-likelihood), forward and backward.
// Launchers: src/Cuda/Fused/FusedCrossEntropy.cs; CPU oracle: tests/Cuda.Tests/Fused/FusedReference.cs.
//
// Shapes: logits, dlogits [rows, classes] contiguous; targets [rows] int64; loss, lse, dloss [rows].
// Forward, one block per row: lse = max + log Σ exp(logit − max); loss = lse − logit[target], or 0 where the
// target is ignoreIndex. A target outside [0, classes) that is not ignoreIndex sets *status = 1 (loss NaN).
// Backward, one thread per logit: dlogits = dloss[row]·(exp(logit − lse) − [class == target]), 0 on ignored rows.
#include "common.cuh"

template <typename T>
__device__ void cross_entropy_fwd_impl(const T* logits, const long long* targets, T* loss, T* lse, long long rows,
                                       long long classes, long long ignoreIndex, int* status)
{
    __shared__ T scratch[32];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x)
    {
        const T* lr = logits + r * classes;
        T m = neg_inf<T>();
        for (long long j = threadIdx.x; j < classes; j += blockDim.x) m = max_nan(m, lr[j]);
        m = block_reduce(m, MaxOp(), scratch);
        if (m == neg_inf<T>()) m = T(0);
        T s = T(0);
        for (long long j = threadIdx.x; j < classes; j += blockDim.x) s += t_exp(lr[j] - m);
        s = block_reduce(s, SumOp(), scratch);
        if (threadIdx.x == 0)
        {
            const T l = m + t_log(s);
            const long long t = targets[r];
            lse[r] = l;
            if (t == ignoreIndex)
            {
                loss[r] = T(0);
            }
            else if (t < 0 || t >= classes)
            {
                *status = 1;
                loss[r] = quiet_nan<T>(); // the host reports the bad target
            }
            else
            {
                loss[r] = l - lr[t];
            }
        }
    }
}

template <typename T>
__device__ void cross_entropy_bwd_impl(const T* logits, const long long* targets, const T* lse, const T* dloss,
                                       T* dlogits, long long rows, long long classes, long long ignoreIndex)
{
    const long long n = rows * classes;
    for (long long i = grid_start(); i < n; i += grid_step())
    {
        const long long r = i / classes, j = i - r * classes;
        const long long t = targets[r];
        T g = T(0);
        if (t != ignoreIndex) g = dloss[r] * (t_exp(logits[i] - lse[r]) - (j == t ? T(1) : T(0)));
        dlogits[i] = g;
    }
}

#define CE_ENTRIES(SUF, T)                                                                                             \
    TTT_ROW_KERNEL void cross_entropy_fwd_##SUF(const T* logits, const long long* targets, T* loss, T* lse, long long rows, \
                                            long long classes, long long ignoreIndex, int* status)                     \
    {                                                                                                                  \
        cross_entropy_fwd_impl<T>(logits, targets, loss, lse, rows, classes, ignoreIndex, status);                     \
    }                                                                                                                  \
    TTT_REGISTER(cross_entropy_fwd_##SUF)                                                                              \
    TTT_KERNEL void cross_entropy_bwd_##SUF(const T* logits, const long long* targets, const T* lse, const T* dloss,    \
                                            T* dlogits, long long rows, long long classes, long long ignoreIndex)      \
    {                                                                                                                  \
        cross_entropy_bwd_impl<T>(logits, targets, lse, dloss, dlogits, rows, classes, ignoreIndex);                   \
    }                                                                                                                  \
    TTT_REGISTER(cross_entropy_bwd_##SUF)

CE_ENTRIES(f32, float)
CE_ENTRIES(f64, double)
