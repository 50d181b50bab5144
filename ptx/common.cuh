// Shared definitions for every Ttt kernel family (included by each ptx/*.cu).
//
// Conventions
// - Entry points are extern "C" with a dtype suffix (_f32, _f64, _i64) and are listed, with their parameter
//   kinds, in src/Cuda/Kernels/KernelCatalog.cs; a CPU test checks that list against the .entry signatures of the
//   committed PTX, so a launcher can never pass a different argument list than the kernel declares.
// - Element-wise launches pass the iteration shape (Shape8) once and one layout (Strides8) per operand, by value.
//   The host has already dropped size-1 dims and merged neighbouring dims wherever every operand allows it, so
//   most launches arrive as rank 1 or 2. Strides are in elements and may be 0 (broadcast) or negative.
// - 1-D grid-stride loops, block sizes that are multiples of 32 (the block reductions below rely on full warps).
// - No dynamic shared memory and no inline PTX, so the same source also compiles for the CPU emulator
//   (ptx/emu), where TTT_EMULATION is defined and the CUDA built-ins come from ptx/emu/cuda_emu.h.
#pragma once

#ifndef TTT_EMULATION
// In a real CUDA build entry points need no registration; the emulator registers them by name.
#define TTT_REGISTER(name)
#endif

#define TTT_MAX_DIMS 8
#define TTT_KERNEL extern "C" __global__
// Kernels launched with one block per row use up to 1024 threads: cap their registers at 64 per thread so that the
// driver's JIT for any newer GPU cannot make such a launch fail with CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES.
#define TTT_ROW_KERNEL extern "C" __global__ __launch_bounds__(1024)
// Block reductions (reduce_block, argreduce_block) launch at most 512 threads.
#define TTT_REDUCE_KERNEL extern "C" __global__ __launch_bounds__(512)

// Iteration space of a launch: numel elements in a row-major shape of `rank` (≤ 8) dims. 80 bytes.
struct Shape8
{
    long long numel;
    int rank;
    int pad_;
    long long size[TTT_MAX_DIMS];
};

// One operand's layout over a Shape8: element offset of element 0 and per-dim strides (elements). 72 bytes.
// Strides of dims ≥ rank are 0.
struct Strides8
{
    long long offset;
    long long stride[TTT_MAX_DIMS];
};

// Coordinates of row-major linear index i (coordinates of dims ≥ rank are 0). Unrolled so that every index into
// the by-value structs is a constant: the structs stay in the parameter space, no local-memory copy.
// Uses 32-bit division when both operands fit, which is much cheaper on the GPU than 64-bit division.
__device__ __forceinline__ void unravel(long long i, const Shape8& s, long long (&c)[TTT_MAX_DIMS])
{
#pragma unroll
    for (int d = TTT_MAX_DIMS - 1; d >= 0; --d)
    {
        if (d < s.rank)
        {
            if (d == 0)
            {
                c[0] = i;
            }
            else
            {
                long long n = s.size[d];
                long long q;
                if (((i | n) >> 31) == 0)
                    q = (long long)((unsigned int)i / (unsigned int)n);
                else
                    q = i / n;
                c[d] = i - q * n;
                i = q;
            }
        }
        else
        {
            c[d] = 0;
        }
    }
}

// Storage offset of coordinates c in one operand.
__device__ __forceinline__ long long offset_of(const long long (&c)[TTT_MAX_DIMS], const Strides8& st)
{
    long long o = st.offset;
#pragma unroll
    for (int d = 0; d < TTT_MAX_DIMS; ++d) o += c[d] * st.stride[d];
    return o;
}

__device__ __forceinline__ long long grid_start() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ long long grid_step() { return (long long)gridDim.x * blockDim.x; }

// ---------------------------------------------------------------- math overloads (float / double)

__device__ __forceinline__ float t_exp(float x) { return expf(x); }
__device__ __forceinline__ double t_exp(double x) { return exp(x); }
__device__ __forceinline__ float t_log(float x) { return logf(x); }
__device__ __forceinline__ double t_log(double x) { return log(x); }
__device__ __forceinline__ float t_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double t_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float t_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double t_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float t_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double t_pow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float t_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double t_abs(double x) { return fabs(x); }

// −∞ / +∞ of a dtype (the most negative / positive int64 for integers).
template <typename T> __device__ __forceinline__ T neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double neg_inf<double>() { return __longlong_as_double((long long)0xfff0000000000000ULL); }
template <> __device__ __forceinline__ long long neg_inf<long long>() { return (long long)0x8000000000000000ULL; }
template <typename T> __device__ __forceinline__ T pos_inf();
template <> __device__ __forceinline__ float pos_inf<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double pos_inf<double>() { return __longlong_as_double(0x7ff0000000000000LL); }
template <> __device__ __forceinline__ long long pos_inf<long long>() { return 0x7fffffffffffffffLL; }


// A quiet NaN of a float dtype.
template <typename T> __device__ __forceinline__ T quiet_nan();
template <> __device__ __forceinline__ float quiet_nan<float>() { return __int_as_float(0x7fc00000); }
template <> __device__ __forceinline__ double quiet_nan<double>() { return __longlong_as_double(0x7ff8000000000000LL); }

template <typename T> __device__ __forceinline__ bool is_nan(T v) { return v != v; }

// Logistic sigmoid in the stable form of ScalarMath.Sigmoid.
template <typename T> __device__ __forceinline__ T sigmoid(T x)
{
    return x >= T(0) ? T(1) / (T(1) + t_exp(-x)) : t_exp(x) / (T(1) + t_exp(x));
}

// GELU, tanh approximation with √(2/π) = 0.7978845608028654 (ScalarMath.Gelu).
template <typename T> __device__ __forceinline__ T gelu(T x)
{
    const T k = T(0.7978845608028654);
    return T(0.5) * x * (T(1) + t_tanh(k * (x + T(0.044715) * x * x * x)));
}

// NaN-propagating max/min (the reference keeps the first NaN it meets; any NaN gives NaN).
template <typename T> __device__ __forceinline__ T max_nan(T a, T b) { return is_nan(a) ? a : (is_nan(b) ? b : (b > a ? b : a)); }
template <typename T> __device__ __forceinline__ T min_nan(T a, T b) { return is_nan(a) ? a : (is_nan(b) ? b : (b < a ? b : a)); }

// ---------------------------------------------------------------- warp and block reductions

struct SumOp
{
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp
{
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return max_nan(a, b); }
};
struct MinOp
{
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return min_nan(a, b); }
};

template <typename T, typename Op> __device__ __forceinline__ T warp_reduce(T v, Op op)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Reduces v over the whole block; every thread gets the result. All threads of the block must call it
// (block-uniform control flow) and blockDim.x must be a multiple of 32. `scratch` holds ≥ 32 values in shared
// memory; it may be reused right after the call returns.
template <typename T, typename Op> __device__ __forceinline__ T block_reduce(T v, Op op, T* scratch)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_reduce(v, op);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    T r = scratch[0];
    for (int w = 1; w < warps; ++w) r = op(r, scratch[w]);
    __syncthreads();
    return r;
}

// ---------------------------------------------------------------- atomics (float, double, int64)

__device__ __forceinline__ void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(long long* p, long long v)
{
    atomicAdd(reinterpret_cast<unsigned long long*>(p), (unsigned long long)v);
}
