// Softmax family: softmax and log-softmax over the last dim. Launcher: src/Cuda/CudaBackend.Softmax.cs.
//
// x: rows of `len` elements, row r starting at offset_of(r in rows, xr), elements `xstride` apart (x may be a
// transposed view: the op layer moves the softmax dim last as a view). y: contiguous [rows, len].
// One block per row (grid-stride over rows): max pass, Σ exp pass, write pass, as the reference does
// (a row that is all −∞ uses max = 0 and so yields NaN, as 0/0).
#include "common.cuh"

template <typename T>
__device__ void softmax_impl(const T* x, T* y, const Shape8& rows, const Strides8& xr, long long len, long long xstride,
                             bool logOut)
{
    __shared__ T scratch[32];
    for (long long r = blockIdx.x; r < rows.numel; r += gridDim.x) // block-uniform loop
    {
        long long c[TTT_MAX_DIMS];
        unravel(r, rows, c);
        const T* row = x + offset_of(c, xr);
        T* out = y + r * len;
        T m = neg_inf<T>();
        for (long long j = threadIdx.x; j < len; j += blockDim.x) m = max_nan(m, row[j * xstride]);
        m = block_reduce(m, MaxOp(), scratch);
        if (m == neg_inf<T>()) m = T(0);
        T s = T(0);
        for (long long j = threadIdx.x; j < len; j += blockDim.x) s += t_exp(row[j * xstride] - m);
        s = block_reduce(s, SumOp(), scratch);
        const T logSum = t_log(s);
        for (long long j = threadIdx.x; j < len; j += blockDim.x)
        {
            T v = row[j * xstride] - m;
            out[j] = logOut ? v - logSum : t_exp(v) / s;
        }
    }
}

#define SOFTMAX_ENTRY(SUF, T)                                                                                          \
    TTT_ROW_KERNEL void softmax_##SUF(const T* x, T* y, Shape8 rows, Strides8 xr, long long len, long long xstride,        \
                                  int logOut)                                                                          \
    {                                                                                                                  \
        softmax_impl<T>(x, y, rows, xr, len, xstride, logOut != 0);                                                    \
    }                                                                                                                  \
    TTT_REGISTER(softmax_##SUF)

SOFTMAX_ENTRY(f32, float)
SOFTMAX_ENTRY(f64, double)
