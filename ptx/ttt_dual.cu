// TTT dual-form family (fused): the whole mini-batch scan of TTT-Linear and TTT-MLP (spec §1.7, §1.8, §1.10 with
// the remainder rule), forward and backward, one thread block per (batch, head) carrying the inner state across
// the mini-batches. Launcher: src/Cuda/Fused/FusedTttDual.cs; the op: src/Layers/Ttt/Fused/TttFused.cs, whose CPU
// kernels (LinearScanKernel.cs, MlpScanKernel.cs) carry the same formulas, listed there line by line.
//
// Inputs (dense): θ₀ [B, H, …] per parameter; q, k, v [B, H, T, d]; lr [B, H, T]; τ [K]; γ, β [H, d].
// Per mini-batch of kk ≤ K tokens starting at t0 (X = k rows, Q = q rows, Tgt = v − k; E_ij = τ_i·lr_j, e = E[kk−1, :]):
//   TTT-Linear:  Z = X·W + b;  G = LNL2Grad(Z, Tgt);  P = tril(E ⊙ (Q·Xᵀ + 1));  Zb = Q·W + b − P·G;
//                Out = Q + LN(Zb);  W −= Xᵀ·diag(e)·G;  b −= eᵀG
//   TTT-MLP:     Z1 = X·W1 + b1, X2 = gelu(Z1), Z2 = X2·W2 + b2, G2 = LNL2Grad(Z2, Tgt), Gp = G2·W2ᵀ,
//                G1 = Gp ⊙ gelu'(Z1);  P1 = tril(E ⊙ (Q·Xᵀ + 1)), Z1b = Q·W1 + b1 − P1·G1, X2b = gelu(Z1b);
//                P2 = tril(E ⊙ (X2b·X2ᵀ + 1)), Z2b = X2b·W2 + b2 − P2·G2;  Out = Q + LN(Z2b);  the four updates.
// The forward stores the state at every mini-batch start into `saved` [B·H, M, stateSize] when asked (M = ⌈T/K⌉);
// the backward walks the mini-batches in reverse, reloads that state, recomputes the mini-batch and applies the
// backward formulas of the CPU kernels with the gradient of the carried state (the "carry", initialised from the
// gradient of the final state). dτ, dγ, dβ are sums over blocks: each block adds its total with one atomic per
// element into the zero-initialised outputs.
//
// Memory: TTT-Linear keeps W [d, d] and b in shared memory (d ≤ TTT_MAX_D = 64: 16 KiB float32, 32 KiB float64).
// TTT-MLP's W1 [d, 4d] and W2 [4d, d] (128 KiB at d = 64 float32) do not fit the 48 KiB of static shared memory,
// so its state lives in the block's own slice of the output state (forward) or of the workspace (backward), which
// only that block touches and which stays in L1/L2. Every per-mini-batch temporary ([kk, d], [kk, 4d], [kk, kk])
// lives in the block's slice of the global workspace `work` (`workPerBlock` elements; FusedTttDual.WorkElements
// gives the layout's size); K ≤ TTT_MAX_K = 64.
//
// Work split: the block's threads share every small matrix product (one output element per thread, grid-stride)
// and take one row per warp for the row-wise LayerNorm pieces; a __syncthreads separates dependent steps.
#include "common.cuh"

#define TTT_THREADS 256
#define TTT_MAX_D 64
#define TTT_MAX_K 64
#define TTT_LN_EPS 1e-6

// ---------------------------------------------------------------- block-wide building blocks

// C[i, j] (row stride ldc) {=, +=, −=} Σ_k A(i, k)·B(k, j) for i < m, j < n, with A(i, k) = a[i·ar + k·ac] and
// B(k, j) = b[k·br + j·bc] (so transposes are stride swaps). mode: 0 set, 1 add, −1 subtract. Ends with a barrier.
template <typename T>
__device__ void mm(T* c, int ldc, const T* a, int ar, int ac, const T* b, int br, int bc, int m, int n, int k, int mode)
{
    for (int idx = threadIdx.x; idx < m * n; idx += blockDim.x)
    {
        const int i = idx / n, j = idx - i * n;
        T s = T(0);
        for (int kk = 0; kk < k; ++kk) s += a[i * ar + kk * ac] * b[kk * br + j * bc];
        T* p = c + i * ldc + j;
        *p = mode == 0 ? s : (mode > 0 ? *p + s : *p - s);
    }
    __syncthreads();
}

// GELU with the tanh approximation; gelu'(z) with constants (c₁, c₂) as RowOps.GeluPrime: exact (√(2/π),
// 3·0.044715·√(2/π)) or official (0.79788456, 0.1070322243); and the derivative of that formula (InnerG1Backward).
template <typename T> __device__ __forceinline__ T gelu_fwd(T z) { return gelu(z); }
template <typename T> __device__ __forceinline__ void gelu_consts(bool exact, T& c1, T& c2)
{
    c1 = exact ? T(0.7978845608028654) : T(0.79788456);
    c2 = exact ? T(3 * 0.044715 * 0.7978845608028654) : T(0.1070322243);
}
template <typename T> __device__ __forceinline__ T gelu_prime(T z, T c1, T c2, T& t, T& omt2)
{
    const T z2 = z * z;
    t = t_tanh(c1 * z * (T(1) + T(0.044715) * z2));
    omt2 = T(1) - t * t;
    return T(0.5) * (T(1) + t) + T(0.5) * z * omt2 * (c1 + c2 * z2);
}
template <typename T> __device__ __forceinline__ T gelu_prime_exact(T z)
{
    T c1, c2, t, o;
    gelu_consts<T>(true, c1, c2);
    return gelu_prime(z, c1, c2, t, o);
}

// ---------------------------------------------------------------- row-wise pieces (one warp per row)

// Row i: z += bias; x̂ = (z − μ)/s, s = √(σ² + eps); g = (ĝ − mean ĝ − x̂·mean(ĝx̂))/s with ĝ = γ(γx̂ + β − tgt).
template <typename T>
__device__ void rows_lnl2grad(T* z, const T* bias, const T* gamma, const T* beta, const T* tgt, T* xh, T* g, T* stdv,
                              int kk, int d)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int i = warp; i < kk; i += warps)
    {
        T* zr = z + i * d;
        T s1 = T(0);
        for (int c = lane; c < d; c += 32)
        {
            zr[c] += bias[c];
            s1 += zr[c];
        }
        const T mu = warp_reduce(s1, SumOp()) / T(d);
        T s2 = T(0);
        for (int c = lane; c < d; c += 32) s2 += (zr[c] - mu) * (zr[c] - mu);
        const T sd = t_sqrt(warp_reduce(s2, SumOp()) / T(d) + T(TTT_LN_EPS));
        T sg = T(0), sgx = T(0);
        for (int c = lane; c < d; c += 32)
        {
            const T x = (zr[c] - mu) / sd;
            xh[i * d + c] = x;
            const T gh = gamma[c] * (gamma[c] * x + beta[c] - tgt[i * d + c]);
            g[i * d + c] = gh;
            sg += gh;
            sgx += gh * x;
        }
        const T c1 = warp_reduce(sg, SumOp()) / T(d), c2 = warp_reduce(sgx, SumOp()) / T(d);
        for (int c = lane; c < d; c += 32) g[i * d + c] = (g[i * d + c] - c1 - xh[i * d + c] * c2) / sd;
        if (lane == 0) stdv[i] = sd;
    }
    __syncthreads();
}

// Row i: zb += bias; x̂ = LN(zb); out = q + γx̂ + β written to outRows (row stride d) when not null.
template <typename T>
__device__ void rows_ln_out(T* zb, const T* bias, const T* gamma, const T* beta, const T* q, T* xh, T* stdv, T* outRows,
                            int kk, int d)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int i = warp; i < kk; i += warps)
    {
        T* zr = zb + i * d;
        T s1 = T(0);
        for (int c = lane; c < d; c += 32)
        {
            zr[c] += bias[c];
            s1 += zr[c];
        }
        const T mu = warp_reduce(s1, SumOp()) / T(d);
        T s2 = T(0);
        for (int c = lane; c < d; c += 32) s2 += (zr[c] - mu) * (zr[c] - mu);
        const T sd = t_sqrt(warp_reduce(s2, SumOp()) / T(d) + T(TTT_LN_EPS));
        for (int c = lane; c < d; c += 32)
        {
            const T x = (zr[c] - mu) / sd;
            xh[i * d + c] = x;
            if (outRows) outRows[(long long)i * d + c] = q[i * d + c] + gamma[c] * x + beta[c];
        }
        if (lane == 0) stdv[i] = sd;
    }
    __syncthreads();
}

// Row i of the LN backward: dzb = (γ·dout − mean(γ·dout) − x̂·mean(γ·dout·x̂))/s.
template <typename T>
__device__ void rows_ln_bwd(const T* dout, const T* xh, const T* stdv, const T* gamma, T* dzb, int kk, int d)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int i = warp; i < kk; i += warps)
    {
        T sg = T(0), sgx = T(0);
        for (int c = lane; c < d; c += 32)
        {
            const T gy = dout[i * d + c] * gamma[c];
            sg += gy;
            sgx += gy * xh[i * d + c];
        }
        const T m1 = warp_reduce(sg, SumOp()) / T(d), m2 = warp_reduce(sgx, SumOp()) / T(d);
        for (int c = lane; c < d; c += 32)
            dzb[i * d + c] = (dout[i * d + c] * gamma[c] - m1 - xh[i * d + c] * m2) / stdv[i];
    }
    __syncthreads();
}

// Row i of the LNL2Grad backward for upstream u = dG (RowOps.LnL2GradBackward): dz, dt = dTgt, and the row's
// contributions to dγ and dβ (rg, rb; summed over rows by the caller, so that no two warps add to one element).
template <typename T>
__device__ void rows_lnl2grad_bwd(const T* u, const T* xh, const T* stdv, const T* g, const T* tgt, const T* gamma,
                                  const T* beta, T* dz, T* dt, T* rg, T* rb, int kk, int d)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int i = warp; i < kk; i += warps)
    {
        const int o = i * d;
        T su = T(0), sux = T(0), sghx = T(0), sug = T(0);
        for (int c = lane; c < d; c += 32)
        {
            const T uu = u[o + c], x = xh[o + c], ga = gamma[c];
            const T gh = ga * (ga * x + beta[c] - tgt[o + c]);
            su += uu;
            sux += uu * x;
            sghx += gh * x;
            sug += uu * g[o + c];
        }
        const T inv = T(1) / stdv[i];
        const T mu = warp_reduce(su, SumOp()) / T(d), mux = warp_reduce(sux, SumOp()) / T(d);
        const T c2 = warp_reduce(sghx, SumOp()) / T(d);
        const T ds = -warp_reduce(sug, SumOp()) * inv;
        T sdx = T(0), sdxx = T(0);
        for (int c = lane; c < d; c += 32)
        {
            const T uu = u[o + c], x = xh[o + c], ga = gamma[c];
            const T r = ga * x + beta[c] - tgt[o + c];
            const T gh = ga * r;
            const T dgh = (uu - mu - x * mux) * inv;
            rg[o + c] = dgh * (ga * x + r);
            rb[o + c] = ga * dgh;
            dt[o + c] = -ga * dgh;
            const T dxh = ga * ga * dgh - (c2 * uu + gh * mux) * inv;
            dz[o + c] = dxh;
            sdx += dxh;
            sdxx += dxh * x;
        }
        const T m1 = warp_reduce(sdx, SumOp()) / T(d), m2 = warp_reduce(sdxx, SumOp()) / T(d);
        for (int c = lane; c < d; c += 32)
        {
            const T x = xh[o + c];
            dz[o + c] = (dz[o + c] - m1 - x * m2) * inv + ds / T(d) * x;
        }
    }
    __syncthreads();
}

// ---------------------------------------------------------------- shared pieces of both models

// Loads X = k rows, Q = q rows, Tgt = v − k, lr of the mini-batch [t0, t0 + kk).
template <typename T>
__device__ void load_minibatch(const T* q, const T* k, const T* v, const T* lr, long long rowBase, int kk, int d, T* X,
                               T* Q, T* TG, T* lrs)
{
    for (int idx = threadIdx.x; idx < kk * d; idx += blockDim.x)
    {
        const long long g = rowBase * d + idx;
        X[idx] = k[g];
        Q[idx] = q[g];
        TG[idx] = v[g] - k[g];
    }
    for (int i = threadIdx.x; i < kk; i += blockDim.x) lrs[i] = lr[rowBase + i];
    __syncthreads();
}

// P = tril(E ⊙ (A + 1)) [kk, kk] (row stride K), E_ij = τ_i·lr_j.
template <typename T> __device__ void build_p(const T* a, T* p, const T* tau, const T* lrs, int kk, int K)
{
    for (int idx = threadIdx.x; idx < kk * kk; idx += blockDim.x)
    {
        const int i = idx / kk, j = idx - i * kk;
        p[i * K + j] = j <= i ? tau[i] * lrs[j] * (a[i * K + j] + T(1)) : T(0);
    }
    __syncthreads();
}

// dst_j = e_j·src_j (e_j = τ_{kk−1}·lr_j) and bias −= Σ_j dst_j, rows of `width`.
template <typename T>
__device__ void scale_rows_update_bias(const T* src, T* dst, T* bias, const T* tau, const T* lrs, int kk, int width)
{
    const T tl = tau[kk - 1];
    for (int idx = threadIdx.x; idx < kk * width; idx += blockDim.x)
    {
        const int j = idx / width;
        dst[idx] = tl * lrs[j] * src[idx];
    }
    __syncthreads();
    for (int c = threadIdx.x; c < width; c += blockDim.x)
    {
        T s = T(0);
        for (int j = 0; j < kk; ++j) s += dst[j * width + c];
        bias[c] -= s;
    }
    __syncthreads();
}

// Backward of P = tril(E ⊙ (A + 1)) from dPraw = dZb·Gᵀ (dP = −dPraw on the lower triangle): dA = dP ⊙ E,
// dτ_i += Σ_j dP_ij(A_ij + 1)·lr_j, dlr_j += Σ_i dP_ij(A_ij + 1)·τ_i. dpr is overwritten with dP_ij(A_ij + 1).
template <typename T>
__device__ void build_da(const T* a, T* dpr, T* da, const T* tau, const T* lrs, T* dtau, T* dlr, int kk, int K)
{
    for (int idx = threadIdx.x; idx < kk * kk; idx += blockDim.x)
    {
        const int i = idx / kk, j = idx - i * kk;
        if (j <= i)
        {
            const T dP = -dpr[i * K + j];
            dpr[i * K + j] = dP * (a[i * K + j] + T(1));
            da[i * K + j] = dP * tau[i] * lrs[j];
        }
        else
        {
            dpr[i * K + j] = T(0);
            da[i * K + j] = T(0);
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < kk; i += blockDim.x)
    {
        T st = T(0), sl = T(0);
        for (int j = 0; j < kk; ++j)
        {
            st += dpr[i * K + j] * lrs[j]; // row i → dτ_i
            sl += dpr[j * K + i] * tau[j]; // column i → dlr_i
        }
        dtau[i] += st;
        dlr[i] += sl;
    }
    __syncthreads();
}

// e_j = τ_{kk−1}·lr_j: from de_j = −Σ_c G_jc·Y_jc (over the given pairs of rows), dτ_{kk−1} += Σ_j de_j·lr_j and
// dlr_j += de_j·τ_{kk−1}. Also dG = −e_j·(Y_j), written to dg (rows of width w1 / w2).
template <typename T>
__device__ void last_row_bwd(const T* g1, const T* y1, T* dg1, int w1, const T* g2, const T* y2, T* dg2, int w2,
                             const T* tau, const T* lrs, T* dtau, T* dlr, T* de, int kk)
{
    const T tl = tau[kk - 1];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int j = warp; j < kk; j += warps)
    {
        const T ne = -tl * lrs[j];
        T dot = T(0);
        for (int c = lane; c < w1; c += 32)
        {
            dot += y1[j * w1 + c] * g1[j * w1 + c];
            dg1[j * w1 + c] = ne * y1[j * w1 + c];
        }
        if (g2)
            for (int c = lane; c < w2; c += 32)
            {
                dot += y2[j * w2 + c] * g2[j * w2 + c];
                dg2[j * w2 + c] = ne * y2[j * w2 + c];
            }
        dot = warp_reduce(dot, SumOp());
        if (lane == 0) de[j] = -dot;
    }
    __syncthreads();
    if (threadIdx.x == 0)
    {
        T s = T(0);
        for (int j = 0; j < kk; ++j)
        {
            s += de[j] * lrs[j];
            dlr[j] += de[j] * tl;
        }
        dtau[kk - 1] += s;
    }
    __syncthreads();
}

// Column sums: acc[c] += Σ_i (a[i, c]·b[i, c]) when b, else Σ_i a[i, c]; plus Σ_i a2[i, c] when a2.
template <typename T> __device__ void col_accumulate(T* acc, const T* a, const T* b, const T* a2, int kk, int width)
{
    for (int c = threadIdx.x; c < width; c += blockDim.x)
    {
        T s = T(0);
        for (int i = 0; i < kk; ++i)
        {
            s += b ? a[i * width + c] * b[i * width + c] : a[i * width + c];
            if (a2) s += a2[i * width + c];
        }
        acc[c] += s;
    }
    __syncthreads();
}

template <typename T> __device__ void copy_block(T* dst, const T* src, long long n)
{
    for (long long i = threadIdx.x; i < n; i += blockDim.x) dst[i] = src ? src[i] : T(0);
    __syncthreads();
}

template <typename T> __device__ void axpy_rows(T* y, const T* x, T alpha, int n)
{
    for (int i = threadIdx.x; i < n; i += blockDim.x) y[i] += alpha * x[i];
    __syncthreads();
}

// Per-block workspace carving: a bump allocator over the block's slice.
template <typename T> struct Carve
{
    T* p;
    __device__ T* take(long long n)
    {
        T* r = p;
        p += n;
        return r;
    }
};

// ---------------------------------------------------------------- TTT-Linear

// Workspace of one block (FusedTttDual.WorkElements): 18·K·d + 4·K² + d² + 3·d.
template <typename T> struct LinearWork
{
    T *X, *Q, *TG, *Z, *G, *XH, *ZB, *XHB, *EG, *DQ, *DX, *DT, *DZB, *DZ, *DG, *Y, *RG, *RB; // [K, d]
    T *A, *P, *DA, *DPR;                                                                    // [K, K]
    T *DW, *DB, *DGAM, *DBET;                                                               // [d, d], [d] ×3
    __device__ LinearWork(T* base, int K, int d)
    {
        Carve<T> c{base};
        const long long r = (long long)K * d, q = (long long)K * K;
        X = c.take(r); Q = c.take(r); TG = c.take(r); Z = c.take(r); G = c.take(r); XH = c.take(r);
        ZB = c.take(r); XHB = c.take(r); EG = c.take(r); DQ = c.take(r); DX = c.take(r); DT = c.take(r);
        DZB = c.take(r); DZ = c.take(r); DG = c.take(r); Y = c.take(r); RG = c.take(r); RB = c.take(r);
        A = c.take(q); P = c.take(q); DA = c.take(q); DPR = c.take(q);
        DW = c.take((long long)d * d);
        DB = c.take(d);
        DGAM = c.take(d);
        DBET = c.take(d);
    }
};

// Recomputes (or computes) one mini-batch of TTT-Linear from the state (W, b): Z, G, A, P, Zb, LN(Zb); writes the
// output rows when `out` is set.
template <typename T>
__device__ void linear_minibatch(const T* W, const T* bvec, const T* gamma, const T* beta, const T* tau, const T* lrs,
                                 T* stdv, T* stdOut, LinearWork<T>& w, T* out, int kk, int K, int d)
{
    mm(w.Z, d, w.X, d, 1, W, d, 1, kk, d, d, 0); // Z = X·W
    rows_lnl2grad(w.Z, bvec, gamma, beta, w.TG, w.XH, w.G, stdv, kk, d);
    mm(w.A, K, w.Q, d, 1, w.X, 1, d, kk, kk, d, 0); // A = Q·Xᵀ
    build_p(w.A, w.P, tau, lrs, kk, K);
    mm(w.ZB, d, w.Q, d, 1, W, d, 1, kk, d, d, 0);   // Zb = Q·W
    mm(w.ZB, d, w.P, K, 1, w.G, d, 1, kk, d, kk, -1); //    − P·G
    rows_ln_out(w.ZB, bvec, gamma, beta, w.Q, w.XHB, stdOut, out, kk, d);
}

template <typename T>
__device__ void ttt_linear_fwd_impl(const T* w0, const T* b0, const T* q, const T* k, const T* v, const T* lr,
                                    const T* tau, const T* gammaAll, const T* betaAll, T* out, T* wOut, T* bOut,
                                    T* saved, T* work, long long heads, long long T_, long long d_, long long K_,
                                    long long workPerBlock)
{
    __shared__ T W[TTT_MAX_D * TTT_MAX_D];
    __shared__ T bsh[TTT_MAX_D];
    __shared__ T lrs[TTT_MAX_K], stdv[TTT_MAX_K], stdOut[TTT_MAX_K], taus[TTT_MAX_K];
    const int d = (int)d_, K = (int)K_;
    const long long bh = blockIdx.x, h = bh % heads;
    const T* gamma = gammaAll + h * d;
    const T* beta = betaAll + h * d;
    LinearWork<T> w(work + bh * workPerBlock, K, d);
    copy_block(W, w0 + bh * d * d, (long long)d * d);
    copy_block(bsh, b0 + bh * d, d);
    copy_block(taus, tau, K);
    const long long M = (T_ + K - 1) / K, stateSize = (long long)d * d + d;
    for (long long m = 0; m < M; ++m)
    {
        const long long t0 = m * K;
        const int kk = (int)(T_ - t0 < K ? T_ - t0 : K);
        if (saved)
        {
            T* s = saved + (bh * M + m) * stateSize;
            copy_block(s, W, (long long)d * d);
            copy_block(s + d * d, bsh, d);
        }
        load_minibatch(q, k, v, lr, bh * T_ + t0, kk, d, w.X, w.Q, w.TG, lrs);
        linear_minibatch(W, bsh, gamma, beta, taus, lrs, stdv, stdOut, w, out + (bh * T_ + t0) * d, kk, K, d);
        // W −= Xᵀ·diag(e)·G;  b −= eᵀG
        scale_rows_update_bias(w.G, w.EG, bsh, taus, lrs, kk, d);
        mm(W, d, w.X, 1, d, w.EG, d, 1, d, d, kk, -1);
    }
    copy_block(wOut + bh * d * d, W, (long long)d * d);
    copy_block(bOut + bh * d, bsh, d);
}

template <typename T>
__device__ void ttt_linear_bwd_impl(const T* q, const T* k, const T* v, const T* lr, const T* tau, const T* gammaAll,
                                    const T* betaAll, const T* saved, const T* dout, const T* dwOut, const T* dbOut,
                                    T* dw0, T* db0, T* dq, T* dk, T* dv, T* dlrOut, T* dtauOut, T* dgammaOut,
                                    T* dbetaOut, T* work, long long heads, long long T_, long long d_, long long K_,
                                    long long workPerBlock)
{
    __shared__ T W[TTT_MAX_D * TTT_MAX_D];
    __shared__ T bsh[TTT_MAX_D];
    __shared__ T lrs[TTT_MAX_K], stdv[TTT_MAX_K], stdOut[TTT_MAX_K], taus[TTT_MAX_K];
    __shared__ T dlr[TTT_MAX_K], dtau[TTT_MAX_K], de[TTT_MAX_K];
    const int d = (int)d_, K = (int)K_;
    const long long bh = blockIdx.x, h = bh % heads;
    const T* gamma = gammaAll + h * d;
    const T* beta = betaAll + h * d;
    LinearWork<T> w(work + bh * workPerBlock, K, d);
    copy_block(taus, tau, K);
    copy_block(dtau, (const T*)nullptr, K);
    // The carry starts as the gradient of the final state (zero when the state is not used).
    copy_block(w.DW, dwOut ? dwOut + bh * d * d : nullptr, (long long)d * d);
    copy_block(w.DB, dbOut ? dbOut + bh * d : nullptr, d);
    copy_block(w.DGAM, (const T*)nullptr, d);
    copy_block(w.DBET, (const T*)nullptr, d);
    const long long M = (T_ + K - 1) / K, stateSize = (long long)d * d + d;
    for (long long m = M - 1; m >= 0; --m)
    {
        const long long t0 = m * K, rowBase = bh * T_ + t0;
        const int kk = (int)(T_ - t0 < K ? T_ - t0 : K);
        const T* s = saved + (bh * M + m) * stateSize;
        copy_block(W, s, (long long)d * d);
        copy_block(bsh, s + d * d, d);
        copy_block(dlr, (const T*)nullptr, kk);
        load_minibatch(q, k, v, lr, rowBase, kk, d, w.X, w.Q, w.TG, lrs);
        linear_minibatch(W, bsh, gamma, beta, taus, lrs, stdv, stdOut, w, (T*)nullptr, kk, K, d);
        // dQ = dOut;  dZb = LN_bwd(dOut);  dγ += dOut·x̂b, dβ += dOut
        copy_block(w.DQ, dout + rowBase * d, (long long)kk * d);
        rows_ln_bwd(w.DQ, w.XHB, stdOut, gamma, w.DZB, kk, d);
        col_accumulate(w.DGAM, w.DQ, w.XHB, (const T*)nullptr, kk, d);
        col_accumulate(w.DBET, w.DQ, (const T*)nullptr, (const T*)nullptr, kk, d);
        // State update backward with the carry as it arrives: Y = X·dW + db;  dX = −diag(e)·G·dWᵀ;  dG = −diag(e)·Y
        mm(w.Y, d, w.X, d, 1, w.DW, d, 1, kk, d, d, 0);
        for (int idx = threadIdx.x; idx < kk * d; idx += blockDim.x) w.Y[idx] += w.DB[idx % d];
        mm(w.DX, d, w.G, d, 1, w.DW, 1, d, kk, d, d, 0);
        for (int idx = threadIdx.x; idx < kk * d; idx += blockDim.x) w.DX[idx] *= -taus[kk - 1] * lrs[idx / d];
        __syncthreads();
        last_row_bwd(w.G, w.Y, w.DG, d, (const T*)nullptr, (const T*)nullptr, (T*)nullptr, 0, taus, lrs, dtau, dlr, de, kk);
        // Zb = Q·W + b − P·G:  dG −= Pᵀ·dZb;  dPraw = dZb·Gᵀ → dA, dτ, dlr
        mm(w.DG, d, w.P, 1, K, w.DZB, d, 1, kk, d, kk, -1);
        mm(w.DPR, K, w.DZB, d, 1, w.G, 1, d, kk, kk, d, 0);
        build_da(w.A, w.DPR, w.DA, taus, lrs, dtau, dlr, kk, K);
        // A = Q·Xᵀ:  dQ += dA·X;  dX += dAᵀ·Q
        mm(w.DQ, d, w.DA, K, 1, w.X, d, 1, kk, d, kk, 1);
        mm(w.DX, d, w.DA, 1, K, w.Q, d, 1, kk, d, kk, 1);
        // G = LNL2Grad(Z, V − X):  dZ, dTgt, dγ, dβ;  dX −= dTgt
        rows_lnl2grad_bwd(w.DG, w.XH, stdv, w.G, w.TG, gamma, beta, w.DZ, w.DT, w.RG, w.RB, kk, d);
        col_accumulate(w.DGAM, w.RG, (const T*)nullptr, (const T*)nullptr, kk, d);
        col_accumulate(w.DBET, w.RB, (const T*)nullptr, (const T*)nullptr, kk, d);
        axpy_rows(w.DX, w.DT, T(-1), kk * d);
        // Z = X·W, Zb ∋ Q·W:  dQ += dZb·Wᵀ;  dX += dZ·Wᵀ
        mm(w.DQ, d, w.DZB, d, 1, W, 1, d, kk, d, d, 1);
        mm(w.DX, d, w.DZ, d, 1, W, 1, d, kk, d, d, 1);
        // Carry into the previous mini-batch: dW += Xᵀ·dZ + Qᵀ·dZb;  db += Σ (dZ + dZb)
        mm(w.DW, d, w.X, 1, d, w.DZ, d, 1, d, d, kk, 1);
        mm(w.DW, d, w.Q, 1, d, w.DZB, d, 1, d, d, kk, 1);
        col_accumulate(w.DB, w.DZ, (const T*)nullptr, w.DZB, kk, d);
        copy_block(dq + rowBase * d, w.DQ, (long long)kk * d);
        copy_block(dk + rowBase * d, w.DX, (long long)kk * d);
        copy_block(dv + rowBase * d, w.DT, (long long)kk * d);
        copy_block(dlrOut + rowBase, dlr, kk);
    }
    copy_block(dw0 + bh * d * d, w.DW, (long long)d * d);
    copy_block(db0 + bh * d, w.DB, d);
    for (int i = threadIdx.x; i < K; i += blockDim.x) atomic_add(dtauOut + i, dtau[i]);
    for (int c = threadIdx.x; c < d; c += blockDim.x)
    {
        atomic_add(dgammaOut + h * d + c, w.DGAM[c]);
        atomic_add(dbetaOut + h * d + c, w.DBET[c]);
    }
}

// ---------------------------------------------------------------- TTT-MLP (hidden width hd = 4d)

// Workspace of one block (FusedTttDual.WorkElements): 17·K·d + 13·K·4d + 7·K² + 2·(2·d·4d + 4d + d) + 2·d.
// The last two state-sized slices: the state (backward only: reloaded from `saved`) and the carry.
template <typename T> struct MlpWork
{
    T *X, *Q, *TG, *Z2, *G2, *XH, *Z2B, *XHB, *EG2, *DQ, *DX, *DT, *DZ2B, *DZ2, *DG2, *Y2, *RG;      // [K, d]
    T *Z1, *X2, *Z1B, *X2B, *GP, *G1, *EG1, *DX2B, *DZ1B, *DG1, *DGP, *DZ1, *DX2;                    // [K, hd]
    T *A1, *P1, *A2, *P2, *DA1, *DA2, *DPR;                                                           // [K, K]
    T *W1, *B1, *W2, *B2, *DW1, *DB1, *DW2, *DB2;                                                     // state, carry
    T *DGAM, *DBET;                                                                                   // [d]
    __device__ MlpWork(T* base, int K, int d)
    {
        const int hd = 4 * d;
        Carve<T> c{base};
        const long long r = (long long)K * d, rh = (long long)K * hd, q = (long long)K * K;
        X = c.take(r); Q = c.take(r); TG = c.take(r); Z2 = c.take(r); G2 = c.take(r); XH = c.take(r);
        Z2B = c.take(r); XHB = c.take(r); EG2 = c.take(r); DQ = c.take(r); DX = c.take(r); DT = c.take(r);
        DZ2B = c.take(r); DZ2 = c.take(r); DG2 = c.take(r); Y2 = c.take(r); RG = c.take(r);
        Z1 = c.take(rh); X2 = c.take(rh); Z1B = c.take(rh); X2B = c.take(rh); GP = c.take(rh); G1 = c.take(rh);
        EG1 = c.take(rh); DX2B = c.take(rh); DZ1B = c.take(rh); DG1 = c.take(rh); DGP = c.take(rh); DZ1 = c.take(rh);
        DX2 = c.take(rh);
        A1 = c.take(q); P1 = c.take(q); A2 = c.take(q); P2 = c.take(q); DA1 = c.take(q); DA2 = c.take(q); DPR = c.take(q);
        W1 = c.take((long long)d * hd);
        B1 = c.take(hd);
        W2 = c.take((long long)hd * d);
        B2 = c.take(d);
        DW1 = c.take((long long)d * hd);
        DB1 = c.take(hd);
        DW2 = c.take((long long)hd * d);
        DB2 = c.take(d);
        DGAM = c.take(d);
        DBET = c.take(d);
    }
};

// One mini-batch of TTT-MLP from the state (W1, b1, W2, b2); writes output rows when `out` is set.
template <typename T>
__device__ void mlp_minibatch(const T* W1, const T* B1, const T* W2, const T* B2, const T* gamma, const T* beta,
                              const T* tau, const T* lrs, T* stdv, T* stdOut, MlpWork<T>& w, T* out, int kk, int K,
                              int d, bool exact)
{
    const int hd = 4 * d;
    T c1, c2;
    gelu_consts<T>(exact, c1, c2);
    // Z1 = X·W1 + b1, X2 = gelu(Z1);  Z2 = X2·W2 (+ b2), G2 = LNL2Grad(Z2, Tgt)
    mm(w.Z1, hd, w.X, d, 1, W1, hd, 1, kk, hd, d, 0);
    for (int idx = threadIdx.x; idx < kk * hd; idx += blockDim.x)
    {
        const T z = w.Z1[idx] + B1[idx % hd];
        w.Z1[idx] = z;
        w.X2[idx] = gelu_fwd(z);
    }
    __syncthreads();
    mm(w.Z2, d, w.X2, hd, 1, W2, d, 1, kk, d, hd, 0);
    rows_lnl2grad(w.Z2, B2, gamma, beta, w.TG, w.XH, w.G2, stdv, kk, d);
    // Gp = G2·W2ᵀ;  G1 = Gp ⊙ gelu'(Z1)
    mm(w.GP, hd, w.G2, d, 1, W2, 1, d, kk, hd, d, 0);
    for (int idx = threadIdx.x; idx < kk * hd; idx += blockDim.x)
    {
        T t, o;
        w.G1[idx] = w.GP[idx] * gelu_prime(w.Z1[idx], c1, c2, t, o);
    }
    __syncthreads();
    // P1 = tril(E ⊙ (Q·Xᵀ + 1));  Z1b = Q·W1 + b1 − P1·G1;  X2b = gelu(Z1b)
    mm(w.A1, K, w.Q, d, 1, w.X, 1, d, kk, kk, d, 0);
    build_p(w.A1, w.P1, tau, lrs, kk, K);
    mm(w.Z1B, hd, w.Q, d, 1, W1, hd, 1, kk, hd, d, 0);
    mm(w.Z1B, hd, w.P1, K, 1, w.G1, hd, 1, kk, hd, kk, -1);
    for (int idx = threadIdx.x; idx < kk * hd; idx += blockDim.x)
    {
        const T z = w.Z1B[idx] + B1[idx % hd];
        w.Z1B[idx] = z;
        w.X2B[idx] = gelu_fwd(z);
    }
    __syncthreads();
    // P2 = tril(E ⊙ (X2b·X2ᵀ + 1));  Z2b = X2b·W2 + b2 − P2·G2;  Out = Q + LN(Z2b)
    mm(w.A2, K, w.X2B, hd, 1, w.X2, 1, hd, kk, kk, hd, 0);
    build_p(w.A2, w.P2, tau, lrs, kk, K);
    mm(w.Z2B, d, w.X2B, hd, 1, W2, d, 1, kk, d, hd, 0);
    mm(w.Z2B, d, w.P2, K, 1, w.G2, d, 1, kk, d, kk, -1);
    rows_ln_out(w.Z2B, B2, gamma, beta, w.Q, w.XHB, stdOut, out, kk, d);
}

template <typename T>
__device__ void ttt_mlp_fwd_impl(const T* w10, const T* b10, const T* w20, const T* b20, const T* q, const T* k,
                                 const T* v, const T* lr, const T* tau, const T* gammaAll, const T* betaAll, T* out,
                                 T* w1Out, T* b1Out, T* w2Out, T* b2Out, T* saved, T* work, long long heads,
                                 long long T_, long long d_, long long K_, long long workPerBlock, int exact)
{
    __shared__ T lrs[TTT_MAX_K], stdv[TTT_MAX_K], stdOut[TTT_MAX_K], taus[TTT_MAX_K];
    const int d = (int)d_, K = (int)K_, hd = 4 * d;
    const long long bh = blockIdx.x, h = bh % heads;
    const T* gamma = gammaAll + h * d;
    const T* beta = betaAll + h * d;
    MlpWork<T> w(work + bh * workPerBlock, K, d);
    // The live state is this block's slice of the output state.
    T* W1 = w1Out + bh * d * hd;
    T* B1 = b1Out + bh * hd;
    T* W2 = w2Out + bh * hd * d;
    T* B2 = b2Out + bh * d;
    copy_block(W1, w10 + bh * d * hd, (long long)d * hd);
    copy_block(B1, b10 + bh * hd, hd);
    copy_block(W2, w20 + bh * hd * d, (long long)hd * d);
    copy_block(B2, b20 + bh * d, d);
    copy_block(taus, tau, K);
    const long long M = (T_ + K - 1) / K, stateSize = 2LL * d * hd + hd + d;
    for (long long m = 0; m < M; ++m)
    {
        const long long t0 = m * K;
        const int kk = (int)(T_ - t0 < K ? T_ - t0 : K);
        if (saved)
        {
            T* s = saved + (bh * M + m) * stateSize;
            copy_block(s, W1, (long long)d * hd);
            copy_block(s + d * hd, B1, hd);
            copy_block(s + d * hd + hd, W2, (long long)hd * d);
            copy_block(s + 2 * d * hd + hd, B2, d);
        }
        load_minibatch(q, k, v, lr, bh * T_ + t0, kk, d, w.X, w.Q, w.TG, lrs);
        mlp_minibatch(W1, B1, W2, B2, gamma, beta, taus, lrs, stdv, stdOut, w, out + (bh * T_ + t0) * d, kk, K, d,
                      exact != 0);
        scale_rows_update_bias(w.G1, w.EG1, B1, taus, lrs, kk, hd);
        scale_rows_update_bias(w.G2, w.EG2, B2, taus, lrs, kk, d);
        mm(W1, hd, w.X, 1, d, w.EG1, hd, 1, d, hd, kk, -1);   // W1 −= Xᵀ·diag(e)·G1
        mm(W2, d, w.X2, 1, hd, w.EG2, d, 1, hd, d, kk, -1);   // W2 −= X2ᵀ·diag(e)·G2
    }
}

template <typename T>
__device__ void ttt_mlp_bwd_impl(const T* q, const T* k, const T* v, const T* lr, const T* tau, const T* gammaAll,
                                 const T* betaAll, const T* saved, const T* dout, const T* dw1Out, const T* db1Out,
                                 const T* dw2Out, const T* db2Out, T* dw10, T* db10, T* dw20, T* db20, T* dq, T* dk,
                                 T* dv, T* dlrOut, T* dtauOut, T* dgammaOut, T* dbetaOut, T* work, long long heads,
                                 long long T_, long long d_, long long K_, long long workPerBlock, int exact)
{
    __shared__ T lrs[TTT_MAX_K], stdv[TTT_MAX_K], stdOut[TTT_MAX_K], taus[TTT_MAX_K];
    __shared__ T dlr[TTT_MAX_K], dtau[TTT_MAX_K], de[TTT_MAX_K];
    const int d = (int)d_, K = (int)K_, hd = 4 * d;
    const long long bh = blockIdx.x, h = bh % heads;
    const T* gamma = gammaAll + h * d;
    const T* beta = betaAll + h * d;
    MlpWork<T> w(work + bh * workPerBlock, K, d);
    T c1, c2;
    gelu_consts<T>(exact != 0, c1, c2);
    copy_block(taus, tau, K);
    copy_block(dtau, (const T*)nullptr, K);
    copy_block(w.DW1, dw1Out ? dw1Out + bh * d * hd : nullptr, (long long)d * hd);
    copy_block(w.DB1, db1Out ? db1Out + bh * hd : nullptr, hd);
    copy_block(w.DW2, dw2Out ? dw2Out + bh * hd * d : nullptr, (long long)hd * d);
    copy_block(w.DB2, db2Out ? db2Out + bh * d : nullptr, d);
    copy_block(w.DGAM, (const T*)nullptr, d);
    copy_block(w.DBET, (const T*)nullptr, d);
    const long long M = (T_ + K - 1) / K, stateSize = 2LL * d * hd + hd + d;
    for (long long m = M - 1; m >= 0; --m)
    {
        const long long t0 = m * K, rowBase = bh * T_ + t0;
        const int kk = (int)(T_ - t0 < K ? T_ - t0 : K);
        const T* s = saved + (bh * M + m) * stateSize;
        copy_block(w.W1, s, stateSize); // W1 | b1 | W2 | b2 are adjacent in the workspace as in `saved`
        copy_block(dlr, (const T*)nullptr, kk);
        load_minibatch(q, k, v, lr, rowBase, kk, d, w.X, w.Q, w.TG, lrs);
        mlp_minibatch(w.W1, w.B1, w.W2, w.B2, gamma, beta, taus, lrs, stdv, stdOut, w, (T*)nullptr, kk, K, d,
                      exact != 0);
        copy_block(w.DQ, dout + rowBase * d, (long long)kk * d);
        rows_ln_bwd(w.DQ, w.XHB, stdOut, gamma, w.DZ2B, kk, d);
        col_accumulate(w.DGAM, w.DQ, w.XHB, (const T*)nullptr, kk, d);
        col_accumulate(w.DBET, w.DQ, (const T*)nullptr, (const T*)nullptr, kk, d);
        // State update backward with the incoming carry: Y1 = X·dW1 + db1 (into DZ1 as scratch), Y2 = X2·dW2 + db2;
        // dX = −diag(e)·G1·dW1ᵀ;  dX2 = −diag(e)·G2·dW2ᵀ;  dG1 = −diag(e)·Y1, dG2 = −diag(e)·Y2;  de
        T* Y1 = w.DZ1;
        mm(Y1, hd, w.X, d, 1, w.DW1, hd, 1, kk, hd, d, 0);
        for (int idx = threadIdx.x; idx < kk * hd; idx += blockDim.x) Y1[idx] += w.DB1[idx % hd];
        mm(w.Y2, d, w.X2, hd, 1, w.DW2, d, 1, kk, d, hd, 0);
        for (int idx = threadIdx.x; idx < kk * d; idx += blockDim.x) w.Y2[idx] += w.DB2[idx % d];
        mm(w.DX, d, w.G1, hd, 1, w.DW1, 1, hd, kk, d, hd, 0);
        mm(w.DX2, hd, w.G2, d, 1, w.DW2, 1, d, kk, hd, d, 0);
        for (int idx = threadIdx.x; idx < kk * d; idx += blockDim.x) w.DX[idx] *= -taus[kk - 1] * lrs[idx / d];
        for (int idx = threadIdx.x; idx < kk * hd; idx += blockDim.x) w.DX2[idx] *= -taus[kk - 1] * lrs[idx / hd];
        __syncthreads();
        last_row_bwd(w.G1, Y1, w.DG1, hd, w.G2, w.Y2, w.DG2, d, taus, lrs, dtau, dlr, de, kk);
        // Z2b = X2b·W2 + b2 − P2·G2:  dX2b = dZ2b·W2ᵀ;  dG2 −= P2ᵀ·dZ2b;  dA2 from dZ2b·G2ᵀ
        mm(w.DX2B, hd, w.DZ2B, d, 1, w.W2, 1, d, kk, hd, d, 0);
        mm(w.DG2, d, w.P2, 1, K, w.DZ2B, d, 1, kk, d, kk, -1);
        mm(w.DPR, K, w.DZ2B, d, 1, w.G2, 1, d, kk, kk, d, 0);
        build_da(w.A2, w.DPR, w.DA2, taus, lrs, dtau, dlr, kk, K);
        mm(w.DX2B, hd, w.DA2, K, 1, w.X2, hd, 1, kk, hd, kk, 1);  // dX2b += dA2·X2
        mm(w.DX2, hd, w.DA2, 1, K, w.X2B, hd, 1, kk, hd, kk, 1);  // dX2 += dA2ᵀ·X2b
        // X2b = gelu(Z1b): dZ1b = dX2b ⊙ gelu'_exact(Z1b);  Z1b = Q·W1 + b1 − P1·G1
        for (int idx = threadIdx.x; idx < kk * hd; idx += blockDim.x) w.DZ1B[idx] = w.DX2B[idx] * gelu_prime_exact(w.Z1B[idx]);
        __syncthreads();
        mm(w.DG1, hd, w.P1, 1, K, w.DZ1B, hd, 1, kk, hd, kk, -1);
        mm(w.DPR, K, w.DZ1B, hd, 1, w.G1, 1, hd, kk, kk, hd, 0);
        build_da(w.A1, w.DPR, w.DA1, taus, lrs, dtau, dlr, kk, K);
        mm(w.DQ, d, w.DA1, K, 1, w.X, d, 1, kk, d, kk, 1);         // dQ += dA1·X
        mm(w.DX, d, w.DA1, 1, K, w.Q, d, 1, kk, d, kk, 1);         // dX += dA1ᵀ·Q
        // G1 = Gp ⊙ gelu'(Z1): dGp = dG1 ⊙ gelu'(Z1), dZ1 = dG1 ⊙ Gp ⊙ gelu''(Z1);  Gp = G2·W2ᵀ: dG2 += dGp·W2
        for (int idx = threadIdx.x; idx < kk * hd; idx += blockDim.x)
        {
            const T z = w.Z1[idx], dg = w.DG1[idx];
            T t, omt2;
            const T gpr = gelu_prime(z, c1, c2, t, omt2);
            w.DGP[idx] = dg * gpr;
            const T z2 = z * z, poly = c1 + c2 * z2, up = c1 * (T(1) + T(3 * 0.044715) * z2);
            const T br = T(0.5) * poly + c2 * z2 + T(0.5) * up - z * t * up * poly;
            w.DZ1[idx] = dg * w.GP[idx] * omt2 * br;
        }
        __syncthreads();
        mm(w.DG2, d, w.DGP, hd, 1, w.W2, d, 1, kk, d, hd, 1);
        // G2 = LNL2Grad(Z2, V − X): dZ2, dTgt, dγ, dβ (row parts in RG and, for dβ, in Y2, free by now);  dX −= dTgt
        rows_lnl2grad_bwd(w.DG2, w.XH, stdv, w.G2, w.TG, gamma, beta, w.DZ2, w.DT, w.RG, w.Y2, kk, d);
        col_accumulate(w.DGAM, w.RG, (const T*)nullptr, (const T*)nullptr, kk, d);
        col_accumulate(w.DBET, w.Y2, (const T*)nullptr, (const T*)nullptr, kk, d);
        axpy_rows(w.DX, w.DT, T(-1), kk * d);
        // Z2 = X2·W2 + b2: dX2 += dZ2·W2ᵀ;  X2 = gelu(Z1): dZ1 += dX2 ⊙ gelu'_exact(Z1)
        mm(w.DX2, hd, w.DZ2, d, 1, w.W2, 1, d, kk, hd, d, 1);
        for (int idx = threadIdx.x; idx < kk * hd; idx += blockDim.x) w.DZ1[idx] += w.DX2[idx] * gelu_prime_exact(w.Z1[idx]);
        __syncthreads();
        // Z1 = X·W1, Z1b ∋ Q·W1: dQ += dZ1b·W1ᵀ;  dX += dZ1·W1ᵀ
        mm(w.DQ, d, w.DZ1B, hd, 1, w.W1, 1, hd, kk, d, hd, 1);
        mm(w.DX, d, w.DZ1, hd, 1, w.W1, 1, hd, kk, d, hd, 1);
        // Carry: dW1 += Xᵀ·dZ1 + Qᵀ·dZ1b;  dW2 += X2ᵀ·dZ2 + X2bᵀ·dZ2b + dGpᵀ·G2;  db1, db2 += row sums
        mm(w.DW1, hd, w.X, 1, d, w.DZ1, hd, 1, d, hd, kk, 1);
        mm(w.DW1, hd, w.Q, 1, d, w.DZ1B, hd, 1, d, hd, kk, 1);
        col_accumulate(w.DB1, w.DZ1, (const T*)nullptr, w.DZ1B, kk, hd);
        mm(w.DW2, d, w.X2, 1, hd, w.DZ2, d, 1, hd, d, kk, 1);
        mm(w.DW2, d, w.X2B, 1, hd, w.DZ2B, d, 1, hd, d, kk, 1);
        mm(w.DW2, d, w.DGP, 1, hd, w.G2, d, 1, hd, d, kk, 1);
        col_accumulate(w.DB2, w.DZ2, (const T*)nullptr, w.DZ2B, kk, d);
        copy_block(dq + rowBase * d, w.DQ, (long long)kk * d);
        copy_block(dk + rowBase * d, w.DX, (long long)kk * d);
        copy_block(dv + rowBase * d, w.DT, (long long)kk * d);
        copy_block(dlrOut + rowBase, dlr, kk);
    }
    copy_block(dw10 + bh * d * hd, w.DW1, (long long)d * hd);
    copy_block(db10 + bh * hd, w.DB1, hd);
    copy_block(dw20 + bh * hd * d, w.DW2, (long long)hd * d);
    copy_block(db20 + bh * d, w.DB2, d);
    for (int i = threadIdx.x; i < K; i += blockDim.x) atomic_add(dtauOut + i, dtau[i]);
    for (int c = threadIdx.x; c < d; c += blockDim.x)
    {
        atomic_add(dgammaOut + h * d + c, w.DGAM[c]);
        atomic_add(dbetaOut + h * d + c, w.DBET[c]);
    }
}

// Entry points. Parameters common to both models so one launcher serves both: θ₀ (4 pointers; TTT-Linear uses the
// first two), the inputs, the outputs; the sizes; exactGelu (TTT-MLP only).
#define TTT_DUAL_ENTRIES(SUF, T)                                                                                       \
    TTT_KERNEL void __launch_bounds__(TTT_THREADS, 1)                                                                     \
        ttt_linear_fwd_##SUF(const T* w0, const T* b0, const T* q, const T* k, const T* v, const T* lr, const T* tau,  \
                             const T* gamma, const T* beta, T* out, T* wOut, T* bOut, T* saved, T* work,               \
                             long long heads, long long len, long long dim, long long K, long long workPerBlock)       \
    {                                                                                                                  \
        ttt_linear_fwd_impl<T>(w0, b0, q, k, v, lr, tau, gamma, beta, out, wOut, bOut, saved, work, heads, len, dim, K, \
                               workPerBlock);                                                                          \
    }                                                                                                                  \
    TTT_REGISTER(ttt_linear_fwd_##SUF)                                                                                 \
    TTT_KERNEL void __launch_bounds__(TTT_THREADS, 1)                                                                     \
        ttt_linear_bwd_##SUF(const T* q, const T* k, const T* v, const T* lr, const T* tau, const T* gamma,            \
                             const T* beta, const T* saved, const T* dout, const T* dwOut, const T* dbOut, T* dw0,     \
                             T* db0, T* dq, T* dk, T* dv, T* dlr, T* dtau, T* dgamma, T* dbeta, T* work,               \
                             long long heads, long long len, long long dim, long long K, long long workPerBlock)       \
    {                                                                                                                  \
        ttt_linear_bwd_impl<T>(q, k, v, lr, tau, gamma, beta, saved, dout, dwOut, dbOut, dw0, db0, dq, dk, dv, dlr,    \
                               dtau, dgamma, dbeta, work, heads, len, dim, K, workPerBlock);                           \
    }                                                                                                                  \
    TTT_REGISTER(ttt_linear_bwd_##SUF)                                                                                 \
    TTT_KERNEL void __launch_bounds__(TTT_THREADS, 1)                                                                     \
        ttt_mlp_fwd_##SUF(const T* w10, const T* b10, const T* w20, const T* b20, const T* q, const T* k, const T* v,  \
                          const T* lr, const T* tau, const T* gamma, const T* beta, T* out, T* w1Out, T* b1Out,        \
                          T* w2Out, T* b2Out, T* saved, T* work, long long heads, long long len, long long dim,        \
                          long long K, long long workPerBlock, int exact)                                              \
    {                                                                                                                  \
        ttt_mlp_fwd_impl<T>(w10, b10, w20, b20, q, k, v, lr, tau, gamma, beta, out, w1Out, b1Out, w2Out, b2Out, saved, \
                            work, heads, len, dim, K, workPerBlock, exact);                                            \
    }                                                                                                                  \
    TTT_REGISTER(ttt_mlp_fwd_##SUF)                                                                                    \
    TTT_KERNEL void __launch_bounds__(TTT_THREADS, 1)                                                                     \
        ttt_mlp_bwd_##SUF(const T* q, const T* k, const T* v, const T* lr, const T* tau, const T* gamma,               \
                          const T* beta, const T* saved, const T* dout, const T* dw1Out, const T* db1Out,              \
                          const T* dw2Out, const T* db2Out, T* dw10, T* db10, T* dw20, T* db20, T* dq, T* dk, T* dv,   \
                          T* dlr, T* dtau, T* dgamma, T* dbeta, T* work, long long heads, long long len,               \
                          long long dim, long long K, long long workPerBlock, int exact)                               \
    {                                                                                                                  \
        ttt_mlp_bwd_impl<T>(q, k, v, lr, tau, gamma, beta, saved, dout, dw1Out, db1Out, dw2Out, db2Out, dw10, db10,    \
                            dw20, db20, dq, dk, dv, dlr, dtau, dgamma, dbeta, work, heads, len, dim, K, workPerBlock,  \
                            exact);                                                                                    \
    }                                                                                                                  \
    TTT_REGISTER(ttt_mlp_bwd_##SUF)

TTT_DUAL_ENTRIES(f32, float)
TTT_DUAL_ENTRIES(f64, double)
