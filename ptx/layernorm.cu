// Normalisation family (fused): LayerNorm and RMSNorm over the last dim, forward and backward.
// Launchers: src/Cuda/Fused/FusedNorms.cs; CPU oracle of the same math: tests/Cuda.Tests/Fused/FusedReference.cs.
//
// Shapes: x, y, dy, dx [rows, dim] contiguous; weight, bias, dweight, dbias [dim] (weight/bias may be null);
// mean, rstd [rows] (saved by the forward for the backward).
// Forward and the dx part of the backward: one block per row (grid-stride), block reductions over the row.
// Parameter gradients (Σ over rows): a second kernel, one thread per column, grid.y splits the rows into chunks
// whose partial sums are added with atomics into dweight/dbias (zeroed by the host first).
#include "common.cuh"

// LayerNorm: mean μ, biased variance σ², rstd = 1/√(σ² + eps), y = (x − μ)·rstd·w + b.
template <typename T>
__device__ void layernorm_fwd_impl(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, long long rows,
                                   long long dim, double eps)
{
    __shared__ T scratch[32];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x)
    {
        const T* xr = x + r * dim;
        T s = T(0);
        for (long long j = threadIdx.x; j < dim; j += blockDim.x) s += xr[j];
        const T mu = block_reduce(s, SumOp(), scratch) / T(dim);
        T q = T(0);
        for (long long j = threadIdx.x; j < dim; j += blockDim.x)
        {
            T d = xr[j] - mu;
            q += d * d;
        }
        const T var = block_reduce(q, SumOp(), scratch) / T(dim);
        const T rs = T(1) / t_sqrt(var + T(eps));
        T* yr = y + r * dim;
        for (long long j = threadIdx.x; j < dim; j += blockDim.x)
        {
            T v = (xr[j] - mu) * rs;
            if (w) v *= w[j];
            if (b) v += b[j];
            yr[j] = v;
        }
        if (threadIdx.x == 0)
        {
            mean[r] = mu;
            rstd[r] = rs;
        }
    }
}

// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·w and x̂ = (x − μ)·rstd.
template <typename T>
__device__ void layernorm_bwd_impl(const T* dy, const T* x, const T* w, const T* mean, const T* rstd, T* dx,
                                   long long rows, long long dim)
{
    __shared__ T scratch[32];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x)
    {
        const T* xr = x + r * dim;
        const T* dyr = dy + r * dim;
        const T mu = mean[r], rs = rstd[r];
        T sg = T(0), sgx = T(0);
        for (long long j = threadIdx.x; j < dim; j += blockDim.x)
        {
            T g = w ? dyr[j] * w[j] : dyr[j];
            sg += g;
            sgx += g * (xr[j] - mu) * rs;
        }
        const T mg = block_reduce(sg, SumOp(), scratch) / T(dim);
        const T mgx = block_reduce(sgx, SumOp(), scratch) / T(dim);
        T* dxr = dx + r * dim;
        for (long long j = threadIdx.x; j < dim; j += blockDim.x)
        {
            T g = w ? dyr[j] * w[j] : dyr[j];
            T xh = (xr[j] - mu) * rs;
            dxr[j] = rs * (g - mg - xh * mgx);
        }
    }
}

// dweight[j] += Σ_rows dy·x̂, dbias[j] += Σ_rows dy over this block's chunk of rows (either may be null).
template <typename T>
__device__ void layernorm_bwd_params_impl(const T* dy, const T* x, const T* mean, const T* rstd, T* dw, T* db,
                                          long long rows, long long dim, long long rowsPerChunk)
{
    const long long j = grid_start();
    if (j >= dim) return;
    const long long r0 = (long long)blockIdx.y * rowsPerChunk;
    const long long r1 = r0 + rowsPerChunk < rows ? r0 + rowsPerChunk : rows;
    T aw = T(0), ab = T(0);
    for (long long r = r0; r < r1; ++r)
    {
        T g = dy[r * dim + j];
        aw += g * (x[r * dim + j] - mean[r]) * rstd[r];
        ab += g;
    }
    if (dw) atomic_add(dw + j, aw);
    if (db) atomic_add(db + j, ab);
}

// RMSNorm: rstd = 1/√(mean(x²) + eps), y = x·rstd·w.
template <typename T>
__device__ void rmsnorm_fwd_impl(const T* x, const T* w, T* y, T* rstd, long long rows, long long dim, double eps)
{
    __shared__ T scratch[32];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x)
    {
        const T* xr = x + r * dim;
        T q = T(0);
        for (long long j = threadIdx.x; j < dim; j += blockDim.x) q += xr[j] * xr[j];
        const T ms = block_reduce(q, SumOp(), scratch) / T(dim);
        const T rs = T(1) / t_sqrt(ms + T(eps));
        T* yr = y + r * dim;
        for (long long j = threadIdx.x; j < dim; j += blockDim.x) yr[j] = w ? xr[j] * rs * w[j] : xr[j] * rs;
        if (threadIdx.x == 0) rstd[r] = rs;
    }
}

// dx = rstd·(g − x·rstd²·mean(g·x)) with g = dy·w.
template <typename T>
__device__ void rmsnorm_bwd_impl(const T* dy, const T* x, const T* w, const T* rstd, T* dx, long long rows, long long dim)
{
    __shared__ T scratch[32];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x)
    {
        const T* xr = x + r * dim;
        const T* dyr = dy + r * dim;
        const T rs = rstd[r];
        T sgx = T(0);
        for (long long j = threadIdx.x; j < dim; j += blockDim.x)
        {
            T g = w ? dyr[j] * w[j] : dyr[j];
            sgx += g * xr[j];
        }
        const T mgx = block_reduce(sgx, SumOp(), scratch) / T(dim);
        T* dxr = dx + r * dim;
        for (long long j = threadIdx.x; j < dim; j += blockDim.x)
        {
            T g = w ? dyr[j] * w[j] : dyr[j];
            dxr[j] = rs * (g - xr[j] * rs * rs * mgx);
        }
    }
}

// dweight[j] += Σ_rows dy·x·rstd over this block's chunk of rows.
template <typename T>
__device__ void rmsnorm_bwd_params_impl(const T* dy, const T* x, const T* rstd, T* dw, long long rows, long long dim,
                                        long long rowsPerChunk)
{
    const long long j = grid_start();
    if (j >= dim) return;
    const long long r0 = (long long)blockIdx.y * rowsPerChunk;
    const long long r1 = r0 + rowsPerChunk < rows ? r0 + rowsPerChunk : rows;
    T aw = T(0);
    for (long long r = r0; r < r1; ++r) aw += dy[r * dim + j] * x[r * dim + j] * rstd[r];
    atomic_add(dw + j, aw);
}

#define NORM_ENTRIES(SUF, T)                                                                                           \
    TTT_ROW_KERNEL void layernorm_fwd_##SUF(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, long long rows,    \
                                        long long dim, double eps)                                                     \
    {                                                                                                                  \
        layernorm_fwd_impl<T>(x, w, b, y, mean, rstd, rows, dim, eps);                                                 \
    }                                                                                                                  \
    TTT_REGISTER(layernorm_fwd_##SUF)                                                                                  \
    TTT_ROW_KERNEL void layernorm_bwd_##SUF(const T* dy, const T* x, const T* w, const T* mean, const T* rstd, T* dx,      \
                                        long long rows, long long dim)                                                 \
    {                                                                                                                  \
        layernorm_bwd_impl<T>(dy, x, w, mean, rstd, dx, rows, dim);                                                    \
    }                                                                                                                  \
    TTT_REGISTER(layernorm_bwd_##SUF)                                                                                  \
    TTT_KERNEL void layernorm_bwd_params_##SUF(const T* dy, const T* x, const T* mean, const T* rstd, T* dw, T* db,    \
                                               long long rows, long long dim, long long rowsPerChunk)                  \
    {                                                                                                                  \
        layernorm_bwd_params_impl<T>(dy, x, mean, rstd, dw, db, rows, dim, rowsPerChunk);                              \
    }                                                                                                                  \
    TTT_REGISTER(layernorm_bwd_params_##SUF)                                                                           \
    TTT_ROW_KERNEL void rmsnorm_fwd_##SUF(const T* x, const T* w, T* y, T* rstd, long long rows, long long dim, double eps) \
    {                                                                                                                  \
        rmsnorm_fwd_impl<T>(x, w, y, rstd, rows, dim, eps);                                                            \
    }                                                                                                                  \
    TTT_REGISTER(rmsnorm_fwd_##SUF)                                                                                    \
    TTT_ROW_KERNEL void rmsnorm_bwd_##SUF(const T* dy, const T* x, const T* w, const T* rstd, T* dx, long long rows,       \
                                      long long dim)                                                                   \
    {                                                                                                                  \
        rmsnorm_bwd_impl<T>(dy, x, w, rstd, dx, rows, dim);                                                            \
    }                                                                                                                  \
    TTT_REGISTER(rmsnorm_bwd_##SUF)                                                                                    \
    TTT_KERNEL void rmsnorm_bwd_params_##SUF(const T* dy, const T* x, const T* rstd, T* dw, long long rows,            \
                                             long long dim, long long rowsPerChunk)                                    \
    {                                                                                                                  \
        rmsnorm_bwd_params_impl<T>(dy, x, rstd, dw, rows, dim, rowsPerChunk);                                          \
    }                                                                                                                  \
    TTT_REGISTER(rmsnorm_bwd_params_##SUF)

NORM_ENTRIES(f32, float)
NORM_ENTRIES(f64, double)
