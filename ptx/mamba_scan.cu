// Mamba selective scan family (fused): the scan of Mamba-1, forward and backward.
// Launcher: src/Cuda/Fused/FusedSelectiveScan.cs; the op: src/Layers/Baselines/Mamba/SelectiveScan.cs (whose CPU
// kernel is SelectiveScanKernel.cs); CPU oracle: tests/Cuda.Tests/Fused/FusedReference.cs.
//
// Per batch row b and channel e, with N states (h_0 = 0):
//   h_t = exp(Δ_t[e]·A[e]) ⊙ h_{t−1} + Δ_t[e]·u_t[e]·B_t      y_t[e] = C_t·h_t + D[e]·u_t[e]
// Shapes (dense): u, Δ, y, du, dΔ [B, L, E]; A, dA [E, N]; B, C, dB, dC [B, L, N]; D, dD [E]; last [B, E, N].
//
// One thread per (b, e): grid (⌈E/blockDim⌉, B), so every thread of a block has the same b. The states of a thread
// are held in registers, SCAN_GROUP of them at a time: N > SCAN_GROUP runs the time loop once per group of states
// (each group's recurrence is independent; y, du and dΔ accumulate over the groups).
//
// Backward, per group: pass 1 reruns the forward and stores the state at every chunk start into `chk`
// [B, K, SCAN_GROUP, E] (K = ⌈L/chunk⌉); pass 2 walks the chunks in reverse, recomputes the chunk's states
// h_{t−1} into `hs` [B, chunk, SCAN_GROUP, E] from the saved boundary state, and runs the reverse recurrence
//   dh_t += dy_t·C_t;  dΔ_t += Σₙ dh_t·(A·e^{ΔA}·h_{t−1} + u_t·B_t);  du_t += Σₙ dh_t·Δ_t·B_t (+ D·dy_t)
//   dA += dh_t·Δ_t·e^{ΔA}·h_{t−1};  dB_t += dh_t·Δ_t·u_t;  dC_t += dy_t·h_t;  dh_{t−1} = e^{ΔA}·dh_t
// dB and dC are sums over channels: reduced over the warp's lanes, then one atomic add per warp into the
// zero-initialised outputs; dA and dD (sums over the batch) get one atomic add per thread at the end.
// Scratch memory is O(L/chunk + chunk) states per channel, like the CPU kernel's.
#include "common.cuh"

#define SCAN_GROUP 16

template <typename T>
__device__ void mamba_scan_fwd_impl(const T* u, const T* delta, const T* A, const T* Bm, const T* Cm, const T* D, T* y,
                                    T* last, long long len, long long ch, long long states)
{
    const long long b = blockIdx.y;
    const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= ch) return;
    for (long long n0 = 0; n0 < states; n0 += SCAN_GROUP)
    {
        const long long ng = states - n0 < SCAN_GROUP ? states - n0 : SCAN_GROUP;
        T a[SCAN_GROUP], h[SCAN_GROUP];
#pragma unroll
        for (int n = 0; n < SCAN_GROUP; ++n)
        {
            a[n] = n < ng ? A[e * states + n0 + n] : T(0);
            h[n] = T(0);
        }
        for (long long t = 0; t < len; ++t)
        {
            const long long r = b * len + t;
            const T dt = delta[r * ch + e], uu = u[r * ch + e];
            const T* bt = Bm + r * states + n0;
            const T* ct = Cm + r * states + n0;
            T acc = T(0);
#pragma unroll
            for (int n = 0; n < SCAN_GROUP; ++n)
            {
                if (n < ng)
                {
                    h[n] = t_exp(dt * a[n]) * h[n] + dt * uu * bt[n];
                    acc += ct[n] * h[n];
                }
            }
            if (n0 == 0) y[r * ch + e] = D[e] * uu + acc;
            else y[r * ch + e] += acc;
        }
        if (last)
        {
#pragma unroll
            for (int n = 0; n < SCAN_GROUP; ++n)
                if (n < ng) last[(b * ch + e) * states + n0 + n] = h[n];
        }
    }
}

template <typename T>
__device__ void mamba_scan_bwd_impl(const T* u, const T* delta, const T* A, const T* Bm, const T* Cm, const T* D,
                                    const T* dy, T* du, T* ddelta, T* dA, T* dB, T* dC, T* dD, T* chk, T* hs,
                                    long long len, long long ch, long long states, long long chunk)
{
    const long long b = blockIdx.y;
    const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const bool active = e < ch;
    const long long ec = active ? e : 0; // idle lanes still take part in the warp sums, contributing zeros
    const int lane = threadIdx.x & 31;
    const long long chunks = (len + chunk - 1) / chunk;
    T dDacc = T(0);
    for (long long n0 = 0; n0 < states; n0 += SCAN_GROUP)
    {
        const long long ng = states - n0 < SCAN_GROUP ? states - n0 : SCAN_GROUP;
        T a[SCAN_GROUP], h[SCAN_GROUP], dh[SCAN_GROUP], dAacc[SCAN_GROUP];
#pragma unroll
        for (int n = 0; n < SCAN_GROUP; ++n)
        {
            a[n] = active && n < ng ? A[ec * states + n0 + n] : T(0);
            h[n] = dh[n] = dAacc[n] = T(0);
        }
        // Pass 1: the state before every chunk.
        for (long long t = 0; t < len; ++t)
        {
            const long long r = b * len + t;
            if (t % chunk == 0 && active)
            {
#pragma unroll
                for (int n = 0; n < SCAN_GROUP; ++n) chk[((b * chunks + t / chunk) * SCAN_GROUP + n) * ch + e] = h[n];
            }
            const T dt = delta[r * ch + ec], uu = u[r * ch + ec];
            const T* bt = Bm + r * states + n0;
#pragma unroll
            for (int n = 0; n < SCAN_GROUP; ++n)
                if (n < ng) h[n] = t_exp(dt * a[n]) * h[n] + dt * uu * bt[n];
        }
        // Pass 2: chunks in reverse.
        for (long long k = chunks - 1; k >= 0; --k)
        {
            const long long t0 = k * chunk, t1 = t0 + chunk < len ? t0 + chunk : len;
#pragma unroll
            for (int n = 0; n < SCAN_GROUP; ++n) h[n] = active ? chk[((b * chunks + k) * SCAN_GROUP + n) * ch + e] : T(0);
            for (long long t = t0; t < t1; ++t)
            {
                const long long r = b * len + t;
                const T dt = delta[r * ch + ec], uu = u[r * ch + ec];
                const T* bt = Bm + r * states + n0;
#pragma unroll
                for (int n = 0; n < SCAN_GROUP; ++n)
                {
                    if (active) hs[((b * chunk + (t - t0)) * SCAN_GROUP + n) * ch + e] = h[n]; // h_{t−1}
                    if (n < ng) h[n] = t_exp(dt * a[n]) * h[n] + dt * uu * bt[n];
                }
            }
            for (long long t = t1 - 1; t >= t0; --t)
            {
                const long long r = b * len + t;
                const T dt = delta[r * ch + ec], uu = u[r * ch + ec];
                const T dyt = active ? dy[r * ch + e] : T(0);
                const T* bt = Bm + r * states + n0;
                const T* ct = Cm + r * states + n0;
                T ddt = T(0), duu = T(0);
#pragma unroll
                for (int n = 0; n < SCAN_GROUP; ++n)
                {
                    if (n < ng) // block-uniform: every lane of the warp takes the same branch
                    {
                        const T hp = active ? hs[((b * chunk + (t - t0)) * SCAN_GROUP + n) * ch + e] : T(0);
                        const T da = t_exp(dt * a[n]);
                        const T hn = da * hp + dt * uu * bt[n];
                        dh[n] += dyt * ct[n];
                        T gC = warp_reduce(dyt * hn, SumOp());
                        T gB = warp_reduce(dh[n] * dt * uu, SumOp());
                        if (lane == 0)
                        {
                            atomic_add(dC + r * states + n0 + n, gC);
                            atomic_add(dB + r * states + n0 + n, gB);
                        }
                        ddt += dh[n] * (a[n] * da * hp + uu * bt[n]);
                        duu += dh[n] * dt * bt[n];
                        dAacc[n] += dh[n] * dt * da * hp;
                        dh[n] *= da;
                    }
                }
                if (active)
                {
                    if (n0 == 0)
                    {
                        du[r * ch + e] = duu + dyt * D[e];
                        ddelta[r * ch + e] = ddt;
                        dDacc += dyt * uu;
                    }
                    else
                    {
                        du[r * ch + e] += duu;
                        ddelta[r * ch + e] += ddt;
                    }
                }
            }
        }
        if (active)
        {
#pragma unroll
            for (int n = 0; n < SCAN_GROUP; ++n)
                if (n < ng) atomic_add(dA + e * states + n0 + n, dAacc[n]);
        }
    }
    if (active) atomic_add(dD + e, dDacc);
}

#define MAMBA_SCAN_ENTRIES(SUF, T)                                                                                     \
    TTT_KERNEL void mamba_scan_fwd_##SUF(const T* u, const T* delta, const T* A, const T* Bm, const T* Cm, const T* D, \
                                         T* y, T* last, long long len, long long ch, long long states)                 \
    {                                                                                                                  \
        mamba_scan_fwd_impl<T>(u, delta, A, Bm, Cm, D, y, last, len, ch, states);                                      \
    }                                                                                                                  \
    TTT_REGISTER(mamba_scan_fwd_##SUF)                                                                                 \
    TTT_KERNEL void mamba_scan_bwd_##SUF(const T* u, const T* delta, const T* A, const T* Bm, const T* Cm, const T* D, \
                                         const T* dy, T* du, T* ddelta, T* dA, T* dB, T* dC, T* dD, T* chk, T* hs,     \
                                         long long len, long long ch, long long states, long long chunk)               \
    {                                                                                                                  \
        mamba_scan_bwd_impl<T>(u, delta, A, Bm, Cm, D, dy, du, ddelta, dA, dB, dC, dD, chk, hs, len, ch, states,       \
                               chunk);                                                                                 \
    }                                                                                                                  \
    TTT_REGISTER(mamba_scan_bwd_##SUF)

MAMBA_SCAN_ENTRIES(f32, float)
MAMBA_SCAN_ENTRIES(f64, double)
