// Copy family: strided copy with dtype conversion, fill, and the float32 → bfloat16 cast used by the optional
// bf16 matmul. Launchers: src/Cuda/CudaBackend.Copy.cs and CudaBackend.Matmul.cs.
#include "common.cuh"

// Converts as the reference Copy does: float → int64 truncates toward zero (saturating, NaN → 0, like C#'s
// conversion since .NET 9); int64 → float goes through double first (the reference reads every element as a
// double), so large integers round the same way.
template <typename S, typename D> __device__ __forceinline__ D convert(S v) { return (D)v; }
template <> __device__ __forceinline__ float convert<long long, float>(long long v) { return (float)(double)v; }

// y[i] = convert(x[i]) over shape s; x and y are arbitrary strided views (y may be a slice being assigned).
template <typename S, typename D>
__device__ void copy_impl(const S* x, D* y, const Shape8& s, const Strides8& xs, const Strides8& ys)
{
    for (long long i = grid_start(); i < s.numel; i += grid_step())
    {
        long long c[TTT_MAX_DIMS];
        unravel(i, s, c);
        y[offset_of(c, ys)] = convert<S, D>(x[offset_of(c, xs)]);
    }
}

// y[i] = value over shape s.
template <typename T> __device__ void fill_impl(T* y, const Shape8& s, const Strides8& ys, T value)
{
    for (long long i = grid_start(); i < s.numel; i += grid_step())
    {
        long long c[TTT_MAX_DIMS];
        unravel(i, s, c);
        y[offset_of(c, ys)] = value;
    }
}

#define COPY_ENTRY(SS, S, DS, D)                                                                                       \
    TTT_KERNEL void copy_##SS##_##DS(const S* x, D* y, Shape8 s, Strides8 xs, Strides8 ys)                             \
    {                                                                                                                  \
        copy_impl<S, D>(x, y, s, xs, ys);                                                                              \
    }                                                                                                                  \
    TTT_REGISTER(copy_##SS##_##DS)

COPY_ENTRY(f32, float, f32, float)
COPY_ENTRY(f32, float, f64, double)
COPY_ENTRY(f32, float, i64, long long)
COPY_ENTRY(f64, double, f32, float)
COPY_ENTRY(f64, double, f64, double)
COPY_ENTRY(f64, double, i64, long long)
COPY_ENTRY(i64, long long, f32, float)
COPY_ENTRY(i64, long long, f64, double)
COPY_ENTRY(i64, long long, i64, long long)

#define FILL_ENTRY(SUF, T)                                                                                             \
    TTT_KERNEL void fill_##SUF(T* y, Shape8 s, Strides8 ys, T value) { fill_impl<T>(y, s, ys, value); }                \
    TTT_REGISTER(fill_##SUF)

FILL_ENTRY(f32, float)
FILL_ENTRY(f64, double)
FILL_ENTRY(i64, long long)

// float32 → bfloat16 bits, round to nearest even; NaN stays a quiet NaN.
__device__ __forceinline__ unsigned short f32_to_bf16(float v)
{
    unsigned int u = __float_as_uint(v);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (unsigned short)(u >> 16);
}

// y[i] = bf16(x[i]) over shape s; y is a contiguous bf16 buffer (ys describes it), x any float32 view.
TTT_KERNEL void cast_bf16_f32(const float* x, unsigned short* y, Shape8 s, Strides8 xs, Strides8 ys)
{
    for (long long i = grid_start(); i < s.numel; i += grid_step())
    {
        long long c[TTT_MAX_DIMS];
        unravel(i, s, c);
        y[offset_of(c, ys)] = f32_to_bf16(x[offset_of(c, xs)]);
    }
}
TTT_REGISTER(cast_bf16_f32)
