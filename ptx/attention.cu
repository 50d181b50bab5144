// Fused attention family: blockwise (FlashAttention-2 style) softmax attention, forward and backward.
// Launcher: src/Cuda/Fused/FusedAttention.cs; CPU oracle: tests/Cuda.Tests/Fused/FusedReference.cs; the CPU kernel
// of the same op is src/Tensor/Cpu/Fast/BlockwiseAttentionKernel.cs.
//
// Shapes: q [B, H, Tq, d], k and v [B, H, Tk, d], read through (batch, head, time) strides with unit stride along d
// (so a [B, T, H, d] projection viewed as [B, H, T, d] is read in place); o, dq [B, H, Tq, d], dk, dv [B, H, Tk, d],
// lse and dvec [B, H, Tq] are dense. d ≤ ATTN_MAX_D = 128. With `causal`, query i sees keys j ≤ i + Tk − Tq (the
// queries are the last Tq positions of the key sequence), so training (Tq = Tk) and cached decoding share a kernel.
//
// Forward (attn_fwd): one block per (query tile of QT rows, batch·head). The scaled query tile, one key tile and
// one value tile live in shared memory; each thread owns one query row's share of the output accumulator
// (ATTN_MAX_D / (threads per row) columns) in registers. Per key tile: scores S = (scale·Q)·Kᵀ into shared memory,
// an online softmax per row (running max m and sum l; the accumulator is rescaled by e^(m_old − m_new)), O += P·V.
// At the end O /= l and lse = m + log l is stored for the backward. Key tiles right of the causal boundary of the
// tile's last row are never loaded. Nothing T×T is stored anywhere.
//
// Backward (recomputation from lse): attn_bwd_dq (one block per query tile) computes dvec = rowsum(dO ⊙ O) for its
// rows, then for every visible key tile P = exp(S − lse), dP = dO·Vᵀ, dS = P ⊙ (dP − dvec) and dq += scale·dS·K.
// attn_bwd_dkdv (one block per key tile, launched after dq so dvec is ready) walks the query tiles that see its
// keys: dV += Pᵀ·dO and dK += scale·dSᵀ·Q. Every output element has one owner: no atomics, deterministic.
#include "common.cuh"

#define ATTN_MAX_D 128
#define ATTN_THREADS 128

// Tile sizes (rows of the query tile, keys of the key tile) per dtype and pass, chosen so that the static shared
// memory of a block stays under 48 KiB at d = 128.
template <typename T> struct AttnTiles;
template <> struct AttnTiles<float>
{
    static constexpr int FwdQ = 16, FwdK = 32, BwdQ = 16, BwdK = 16;
};
template <> struct AttnTiles<double>
{
    static constexpr int FwdQ = 8, FwdK = 16, BwdQ = 8, BwdK = 8;
};

template <typename T> __device__ __forceinline__ T t_max(T a, T b) { return a > b ? a : b; }

// Sum / max over the `group` consecutive lanes that share a row (group a power of two ≤ 32, aligned).
template <int Group, typename T> __device__ __forceinline__ T group_sum(T v)
{
#pragma unroll
    for (int o = Group / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
template <int Group, typename T> __device__ __forceinline__ T group_max(T v)
{
#pragma unroll
    for (int o = Group / 2; o > 0; o >>= 1) v = t_max(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// One [B, H, T, d] operand: element (b, h, t, c) at p[b·sb + h·sh + t·st + c].
template <typename T> struct AttnOperand
{
    const T* p;
    long long sb, sh, st;
    __device__ __forceinline__ const T* head(long long b, long long h) const { return p + b * sb + h * sh; }
};

// rows [t0, t0 + Rows) of one head into tile[Rows][ATTN_MAX_D] (times `mul`), zero past `len`.
template <typename T, int Rows>
__device__ __forceinline__ void load_tile(T (*tile)[ATTN_MAX_D], const T* head, long long st, long long t0, long long len,
                                          long long dim, T mul)
{
    for (long long idx = threadIdx.x; idx < Rows * dim; idx += blockDim.x)
    {
        const long long i = idx / dim, c = idx - i * dim;
        tile[i][c] = t0 + i < len ? mul * head[(t0 + i) * st + c] : T(0);
    }
}

// Whether query qi sees key kj.
__device__ __forceinline__ bool attn_visible(long long qi, long long kj, long long tq, long long tk, int causal)
{
    return qi < tq && kj < tk && (!causal || kj <= qi + (tk - tq));
}

template <typename T>
__device__ void attn_fwd_impl(AttnOperand<T> q, AttnOperand<T> k, AttnOperand<T> v, T* o, T* lse, long long heads,
                              long long tq, long long tk, long long dim, int causal, double scale)
{
    constexpr int QT = AttnTiles<T>::FwdQ, KT = AttnTiles<T>::FwdK;
    constexpr int TPR = ATTN_THREADS / QT; // threads per query row
    constexpr int NC = ATTN_MAX_D / TPR;   // accumulator columns per thread
    __shared__ T qs[QT][ATTN_MAX_D];
    __shared__ T ks[KT][ATTN_MAX_D];
    __shared__ T vs[KT][ATTN_MAX_D];
    __shared__ T ss[QT][KT + 1];

    const long long bh = blockIdx.y, b = bh / heads, h = bh - b * heads;
    const long long q0 = (long long)blockIdx.x * QT;
    const int row = threadIdx.x / TPR, part = threadIdx.x % TPR;
    const T* qh = q.head(b, h);
    const T* kh = k.head(b, h);
    const T* vh = v.head(b, h);

    load_tile<T, QT>(qs, qh, q.st, q0, tq, dim, T(scale));
    T acc[NC];
#pragma unroll
    for (int n = 0; n < NC; ++n) acc[n] = T(0);
    T m = neg_inf<T>(), l = T(0);

    long long kEnd = tk;
    if (causal)
    {
        const long long lastRow = (q0 + QT < tq ? q0 + QT : tq) - 1;
        const long long lim = lastRow + (tk - tq) + 1;
        kEnd = lim < tk ? lim : tk;
    }
    for (long long k0 = 0; k0 < kEnd; k0 += KT)
    {
        __syncthreads(); // the previous tile is consumed (and qs is loaded, first time)
        load_tile<T, KT>(ks, kh, k.st, k0, tk, dim, T(1));
        load_tile<T, KT>(vs, vh, v.st, k0, tk, dim, T(1));
        __syncthreads();
        for (int idx = threadIdx.x; idx < QT * KT; idx += blockDim.x)
        {
            const int i = idx / KT, j = idx - i * KT;
            T s = neg_inf<T>();
            if (attn_visible(q0 + i, k0 + j, tq, tk, causal))
            {
                s = T(0);
                for (long long c = 0; c < dim; ++c) s += qs[i][c] * ks[j][c];
            }
            ss[i][j] = s;
        }
        __syncthreads();
        // Online softmax of this row over the tile (the TPR threads of a row are consecutive lanes of one warp).
        T mx = neg_inf<T>();
        for (int j = part; j < KT; j += TPR) mx = t_max(mx, ss[row][j]);
        mx = group_max<TPR>(mx);
        const T mNew = t_max(m, mx);
        const bool none = mNew == neg_inf<T>(); // nothing visible yet: keep zeros
        const T alpha = none || m == neg_inf<T>() ? T(0) : t_exp(m - mNew);
        T ps = T(0);
        for (int j = part; j < KT; j += TPR)
        {
            const T p = none ? T(0) : t_exp(ss[row][j] - mNew);
            ss[row][j] = p;
            ps += p;
        }
        ps = group_sum<TPR>(ps);
        l = l * alpha + ps;
        m = mNew;
        __syncthreads();
#pragma unroll
        for (int n = 0; n < NC; ++n)
        {
            const long long c = part + (long long)n * TPR;
            if (c < dim)
            {
                T a = acc[n] * alpha;
                for (int j = 0; j < KT; ++j) a += ss[row][j] * vs[j][c];
                acc[n] = a;
            }
        }
    }
    const long long qi = q0 + row;
    if (qi < tq)
    {
        const T inv = l > T(0) ? T(1) / l : T(0);
        T* orow = o + (bh * tq + qi) * dim;
#pragma unroll
        for (int n = 0; n < NC; ++n)
        {
            const long long c = part + (long long)n * TPR;
            if (c < dim) orow[c] = acc[n] * inv;
        }
        if (part == 0) lse[bh * tq + qi] = m + t_log(l);
    }
}

template <typename T>
__device__ void attn_bwd_dq_impl(AttnOperand<T> q, AttnOperand<T> k, AttnOperand<T> v, const T* o, const T* lse,
                                 AttnOperand<T> dout, T* dq, T* dvec, long long heads, long long tq, long long tk,
                                 long long dim, int causal, double scale)
{
    constexpr int QT = AttnTiles<T>::BwdQ, KT = AttnTiles<T>::BwdK;
    constexpr int TPR = ATTN_THREADS / QT;
    constexpr int NC = ATTN_MAX_D / TPR;
    __shared__ T qs[QT][ATTN_MAX_D];
    __shared__ T dos[QT][ATTN_MAX_D];
    __shared__ T ks[KT][ATTN_MAX_D];
    __shared__ T vs[KT][ATTN_MAX_D];
    __shared__ T dss[QT][KT + 1];
    __shared__ T lses[QT], ds_row[QT];

    const long long bh = blockIdx.y, b = bh / heads, h = bh - b * heads;
    const long long q0 = (long long)blockIdx.x * QT;
    const int row = threadIdx.x / TPR, part = threadIdx.x % TPR;
    const long long qi = q0 + row;
    const T* kh = k.head(b, h);
    const T* vh = v.head(b, h);

    load_tile<T, QT>(qs, q.head(b, h), q.st, q0, tq, dim, T(scale));
    load_tile<T, QT>(dos, dout.head(b, h), dout.st, q0, tq, dim, T(1));
    // dvec = rowsum(dO ⊙ O) of this thread's row.
    T dsum = T(0);
    if (qi < tq)
    {
        const T* orow = o + (bh * tq + qi) * dim;
        const T* drow = dout.head(b, h) + qi * dout.st;
        for (long long c = part; c < dim; c += TPR) dsum += drow[c] * orow[c];
    }
    dsum = group_sum<TPR>(dsum);
    if (part == 0)
    {
        ds_row[row] = dsum;
        lses[row] = qi < tq ? lse[bh * tq + qi] : T(0);
        if (qi < tq) dvec[bh * tq + qi] = dsum;
    }
    T acc[NC];
#pragma unroll
    for (int n = 0; n < NC; ++n) acc[n] = T(0);

    long long kEnd = tk;
    if (causal)
    {
        const long long lastRow = (q0 + QT < tq ? q0 + QT : tq) - 1;
        const long long lim = lastRow + (tk - tq) + 1;
        kEnd = lim < tk ? lim : tk;
    }
    for (long long k0 = 0; k0 < kEnd; k0 += KT)
    {
        __syncthreads();
        load_tile<T, KT>(ks, kh, k.st, k0, tk, dim, T(1));
        load_tile<T, KT>(vs, vh, v.st, k0, tk, dim, T(1));
        __syncthreads();
        for (int idx = threadIdx.x; idx < QT * KT; idx += blockDim.x)
        {
            const int i = idx / KT, j = idx - i * KT;
            T ds = T(0);
            if (attn_visible(q0 + i, k0 + j, tq, tk, causal))
            {
                T s = T(0), dp = T(0);
                for (long long c = 0; c < dim; ++c)
                {
                    s += qs[i][c] * ks[j][c];
                    dp += dos[i][c] * vs[j][c];
                }
                const T p = t_exp(s - lses[i]);
                ds = p * (dp - ds_row[i]);
            }
            dss[i][j] = ds;
        }
        __syncthreads();
#pragma unroll
        for (int n = 0; n < NC; ++n)
        {
            const long long c = part + (long long)n * TPR;
            if (c < dim)
            {
                T a = acc[n];
                for (int j = 0; j < KT; ++j) a += dss[row][j] * ks[j][c];
                acc[n] = a;
            }
        }
    }
    if (qi < tq)
    {
        T* drow = dq + (bh * tq + qi) * dim;
#pragma unroll
        for (int n = 0; n < NC; ++n)
        {
            const long long c = part + (long long)n * TPR;
            if (c < dim) drow[c] = T(scale) * acc[n];
        }
    }
}

template <typename T>
__device__ void attn_bwd_dkdv_impl(AttnOperand<T> q, AttnOperand<T> k, AttnOperand<T> v, const T* lse, const T* dvec,
                                   AttnOperand<T> dout, T* dk, T* dv, long long heads, long long tq, long long tk,
                                   long long dim, int causal, double scale)
{
    constexpr int QT = AttnTiles<T>::BwdQ, KT = AttnTiles<T>::BwdK;
    constexpr int TPR = ATTN_THREADS / KT; // threads per key row
    constexpr int NC = ATTN_MAX_D / TPR;
    __shared__ T ks[KT][ATTN_MAX_D];
    __shared__ T vs[KT][ATTN_MAX_D];
    __shared__ T qs[QT][ATTN_MAX_D];
    __shared__ T dos[QT][ATTN_MAX_D];
    __shared__ T pt[KT][QT + 1];
    __shared__ T dst[KT][QT + 1];
    __shared__ T lses[QT], ds_row[QT];

    const long long bh = blockIdx.y, b = bh / heads, h = bh - b * heads;
    const long long k0 = (long long)blockIdx.x * KT;
    const int krow = threadIdx.x / TPR, part = threadIdx.x % TPR;
    const T* qh = q.head(b, h);
    const T* dh = dout.head(b, h);

    load_tile<T, KT>(ks, k.head(b, h), k.st, k0, tk, dim, T(1));
    load_tile<T, KT>(vs, v.head(b, h), v.st, k0, tk, dim, T(1));
    T accK[NC], accV[NC];
#pragma unroll
    for (int n = 0; n < NC; ++n) accK[n] = accV[n] = T(0);

    // First query that sees key k0: qi + Tk − Tq ≥ k0.
    long long qStart = 0;
    if (causal)
    {
        const long long first = k0 - (tk - tq);
        qStart = first > 0 ? (first / QT) * QT : 0;
    }
    for (long long q0 = qStart; q0 < tq; q0 += QT)
    {
        __syncthreads();
        load_tile<T, QT>(qs, qh, q.st, q0, tq, dim, T(scale));
        load_tile<T, QT>(dos, dh, dout.st, q0, tq, dim, T(1));
        for (int i = threadIdx.x; i < QT; i += blockDim.x)
        {
            lses[i] = q0 + i < tq ? lse[bh * tq + q0 + i] : T(0);
            ds_row[i] = q0 + i < tq ? dvec[bh * tq + q0 + i] : T(0);
        }
        __syncthreads();
        for (int idx = threadIdx.x; idx < QT * KT; idx += blockDim.x)
        {
            const int j = idx / QT, i = idx - j * QT;
            T p = T(0), ds = T(0);
            if (attn_visible(q0 + i, k0 + j, tq, tk, causal))
            {
                T s = T(0), dp = T(0);
                for (long long c = 0; c < dim; ++c)
                {
                    s += qs[i][c] * ks[j][c];
                    dp += dos[i][c] * vs[j][c];
                }
                p = t_exp(s - lses[i]);
                ds = p * (dp - ds_row[i]);
            }
            pt[j][i] = p;
            dst[j][i] = ds;
        }
        __syncthreads();
#pragma unroll
        for (int n = 0; n < NC; ++n)
        {
            const long long c = part + (long long)n * TPR;
            if (c < dim)
            {
                T ak = accK[n], av = accV[n];
                for (int i = 0; i < QT; ++i)
                {
                    av += pt[krow][i] * dos[i][c];
                    ak += dst[krow][i] * qs[i][c]; // qs holds scale·q: dK = scale·dSᵀ·Q
                }
                accK[n] = ak;
                accV[n] = av;
            }
        }
    }
    const long long kj = k0 + krow;
    if (kj < tk)
    {
        T* dkr = dk + (bh * tk + kj) * dim;
        T* dvr = dv + (bh * tk + kj) * dim;
#pragma unroll
        for (int n = 0; n < NC; ++n)
        {
            const long long c = part + (long long)n * TPR;
            if (c < dim)
            {
                dkr[c] = accK[n];
                dvr[c] = accV[n];
            }
        }
    }
}

#define ATTN_OPERAND(T, name) const T *name, long long name##_sb, long long name##_sh, long long name##_st
#define ATTN_PASS(T, name) AttnOperand<T>{name, name##_sb, name##_sh, name##_st}

#define ATTENTION_ENTRIES(SUF, T)                                                                                      \
    TTT_KERNEL void __launch_bounds__(ATTN_THREADS)                                                                    \
        attn_fwd_##SUF(ATTN_OPERAND(T, q), ATTN_OPERAND(T, k), ATTN_OPERAND(T, v), T* o, T* lse, long long heads, long long tq,  \
                       long long tk, long long dim, int causal, double scale)                                          \
    {                                                                                                                  \
        attn_fwd_impl<T>(ATTN_PASS(T, q), ATTN_PASS(T, k), ATTN_PASS(T, v), o, lse, heads, tq, tk, dim, causal, scale);         \
    }                                                                                                                  \
    TTT_REGISTER(attn_fwd_##SUF)                                                                                       \
    TTT_KERNEL void __launch_bounds__(ATTN_THREADS)                                                                    \
        attn_bwd_dq_##SUF(ATTN_OPERAND(T, q), ATTN_OPERAND(T, k), ATTN_OPERAND(T, v), const T* o, const T* lse,                 \
                          ATTN_OPERAND(T, dout), T* dq, T* dvec, long long heads, long long tq, long long tk,             \
                          long long dim, int causal, double scale)                                                     \
    {                                                                                                                  \
        attn_bwd_dq_impl<T>(ATTN_PASS(T, q), ATTN_PASS(T, k), ATTN_PASS(T, v), o, lse, ATTN_PASS(T, dout), dq, dvec, heads, tq,    \
                            tk, dim, causal, scale);                                                                   \
    }                                                                                                                  \
    TTT_REGISTER(attn_bwd_dq_##SUF)                                                                                    \
    TTT_KERNEL void __launch_bounds__(ATTN_THREADS)                                                                    \
        attn_bwd_dkdv_##SUF(ATTN_OPERAND(T, q), ATTN_OPERAND(T, k), ATTN_OPERAND(T, v), const T* lse, const T* dvec,            \
                            ATTN_OPERAND(T, dout), T* dk, T* dv, long long heads, long long tq, long long tk,             \
                            long long dim, int causal, double scale)                                                   \
    {                                                                                                                  \
        attn_bwd_dkdv_impl<T>(ATTN_PASS(T, q), ATTN_PASS(T, k), ATTN_PASS(T, v), lse, dvec, ATTN_PASS(T, dout), dk, dv, heads, tq, \
                              tk, dim, causal, scale);                                                                 \
    }                                                                                                                  \
    TTT_REGISTER(attn_bwd_dkdv_##SUF)

ATTENTION_ENTRIES(f32, float)
ATTENTION_ENTRIES(f64, double)
