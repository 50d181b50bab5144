// AdamW optimizer step (fused, in place). Launcher: src/Cuda/Fused/FusedAdamW.cs;
// CPU oracle: tests/Cuda.Tests/Fused/FusedReference.cs.
//
// p, g, m, v: [n] contiguous, same dtype. With bc1 = 1 − β₁ᵗ and bc2 = 1 − β₂ᵗ computed by the host for step t:
//   p ← p − lr·λ·p                              (decoupled weight decay, on the pre-step parameter)
//   m ← β₁·m + (1 − β₁)·g,   v ← β₂·v + (1 − β₂)·g²
//   p ← p − lr·(m / bc1) / (√(v / bc2) + ε)
// float32 runs in float32 arithmetic (the hyper-parameters are rounded once), float64 in double.
#include "common.cuh"

template <typename T>
__device__ void adamw_impl(T* p, const T* g, T* m, T* v, long long n, double lr, double beta1, double beta2,
                           double eps, double weightDecay, double bc1, double bc2)
{
    const T tlr = T(lr), tb1 = T(beta1), tb2 = T(beta2), teps = T(eps), twd = T(weightDecay);
    const T tbc1 = T(bc1), tbc2 = T(bc2);
    for (long long i = grid_start(); i < n; i += grid_step())
    {
        const T gi = g[i];
        T pi = p[i];
        pi -= tlr * twd * pi;
        const T mi = tb1 * m[i] + (T(1) - tb1) * gi;
        const T vi = tb2 * v[i] + (T(1) - tb2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - tlr * (mi / tbc1) / (t_sqrt(vi / tbc2) + teps);
    }
}

#define ADAMW_ENTRY(SUF, T)                                                                                            \
    TTT_KERNEL void adamw_##SUF(T* p, const T* g, T* m, T* v, long long n, double lr, double beta1, double beta2,      \
                                double eps, double weightDecay, double bc1, double bc2)                                \
    {                                                                                                                  \
        adamw_impl<T>(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, bc1, bc2);                                    \
    }                                                                                                                  \
    TTT_REGISTER(adamw_##SUF)

ADAMW_ENTRY(f32, float)
ADAMW_ENTRY(f64, double)
