// Causal depthwise conv1d family (fused), forward and backward.
// Launchers: src/Cuda/Fused/FusedConv1d.cs; CPU oracle: tests/Cuda.Tests/Fused/FusedReference.cs and
// Tensor.CausalConv1d (the composite op).
//
// Shapes: x, y, dx, dy [B, T, C] contiguous; weight, dweight [C, 1, W] contiguous (read as [C, W]);
// bias, dbias [C] (bias may be null).
//   y[b, t, c]  = bias[c] + Σ_k w[c, k]·x[b, t − (W−1) + k, c]        (x = 0 before t = 0)
//   dx[b, s, c] = Σ_k w[c, k]·dy[b, s + (W−1) − k, c]                (dy = 0 at and after T)
//   dw[c, k]    = Σ_{b,t} dy[b, t, c]·x[b, t − (W−1) + k, c],  dbias[c] = Σ_{b,t} dy[b, t, c]
// Forward and dx: one thread per element. dweight/dbias: one thread per channel, grid.y splits the B·T rows into
// chunks whose partial sums are added with atomics (dweight, dbias zeroed by the host).
#include "common.cuh"

template <typename T>
__device__ void conv1d_fwd_impl(const T* x, const T* w, const T* bias, T* y, long long batch, long long time,
                                long long channels, long long width)
{
    const long long n = batch * time * channels;
    for (long long i = grid_start(); i < n; i += grid_step())
    {
        const long long c = i % channels, row = i / channels, t = row % time, b = row / time;
        T acc = T(0);
        for (long long k = 0; k < width; ++k)
        {
            const long long s = t - (width - 1) + k;
            if (s >= 0) acc += w[c * width + k] * x[(b * time + s) * channels + c];
        }
        if (bias) acc += bias[c];
        y[i] = acc;
    }
}

template <typename T>
__device__ void conv1d_bwd_x_impl(const T* dy, const T* w, T* dx, long long batch, long long time, long long channels,
                                  long long width)
{
    const long long n = batch * time * channels;
    for (long long i = grid_start(); i < n; i += grid_step())
    {
        const long long c = i % channels, row = i / channels, s = row % time, b = row / time;
        T acc = T(0);
        for (long long k = 0; k < width; ++k)
        {
            const long long t = s + (width - 1) - k;
            if (t < time) acc += w[c * width + k] * dy[(b * time + t) * channels + c];
        }
        dx[i] = acc;
    }
}

template <typename T>
__device__ void conv1d_bwd_w_impl(const T* dy, const T* x, T* dw, T* dbias, long long batch, long long time,
                                  long long channels, long long width, long long rowsPerChunk)
{
    const long long c = grid_start();
    if (c >= channels) return;
    const long long rows = batch * time;
    const long long r0 = (long long)blockIdx.y * rowsPerChunk;
    const long long r1 = r0 + rowsPerChunk < rows ? r0 + rowsPerChunk : rows;
    for (long long k = 0; k < width; ++k)
    {
        T acc = T(0);
        for (long long r = r0; r < r1; ++r)
        {
            const long long t = r % time;
            const long long s = t - (width - 1) + k;
            if (s >= 0) acc += dy[r * channels + c] * x[(r - t + s) * channels + c];
        }
        atomic_add(dw + c * width + k, acc);
    }
    if (dbias)
    {
        T acc = T(0);
        for (long long r = r0; r < r1; ++r) acc += dy[r * channels + c];
        atomic_add(dbias + c, acc);
    }
}

#define CONV1D_ENTRIES(SUF, T)                                                                                         \
    TTT_KERNEL void conv1d_causal_fwd_##SUF(const T* x, const T* w, const T* bias, T* y, long long batch,              \
                                            long long time, long long channels, long long width)                       \
    {                                                                                                                  \
        conv1d_fwd_impl<T>(x, w, bias, y, batch, time, channels, width);                                               \
    }                                                                                                                  \
    TTT_REGISTER(conv1d_causal_fwd_##SUF)                                                                              \
    TTT_KERNEL void conv1d_causal_bwd_x_##SUF(const T* dy, const T* w, T* dx, long long batch, long long time,          \
                                              long long channels, long long width)                                     \
    {                                                                                                                  \
        conv1d_bwd_x_impl<T>(dy, w, dx, batch, time, channels, width);                                                 \
    }                                                                                                                  \
    TTT_REGISTER(conv1d_causal_bwd_x_##SUF)                                                                            \
    TTT_KERNEL void conv1d_causal_bwd_w_##SUF(const T* dy, const T* x, T* dw, T* dbias, long long batch, long long time, \
                                              long long channels, long long width, long long rowsPerChunk)             \
    {                                                                                                                  \
        conv1d_bwd_w_impl<T>(dy, x, dw, dbias, batch, time, channels, width, rowsPerChunk);                            \
    }                                                                                                                  \
    TTT_REGISTER(conv1d_causal_bwd_w_##SUF)

CONV1D_ENTRIES(f32, float)
CONV1D_ENTRIES(f64, double)
