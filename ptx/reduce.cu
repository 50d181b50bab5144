// Reduction family: sum/max/min over any set of dims, argmax/argmin along one dim.
// Launchers: src/Cuda/CudaBackend.Reduce.cs.
//
// The host splits x's dims into kept dims (the output elements, shape `outs`) and reduced dims (shape `reds`),
// merging neighbours within each group. Output element o reads x at offset_of(o in outs, xo) +
// offset_of(r in reds, xr) for every r and writes y at offset_of(o in outs, yo) (xr.offset = 0).
// Two schedules: *_block (one block per output, threads split the reduced elements: long reductions) and
// *_thread (one thread per output, serial loop: many short reductions, coalesced when outputs are adjacent).
#include "common.cuh"

// Must match Ttt.Backends.ReduceOp and ArgReduceOp.
enum ReduceCode
{
    R_Sum = 0,
    R_Max = 1,
    R_Min = 2,
};
enum ArgReduceCode
{
    A_ArgMax = 0,
    A_ArgMin = 1,
};

// Identity of the reduction: 0, −∞, +∞ (the reference's result for an empty reduction).
template <typename T, typename Op> __device__ __forceinline__ T identity();
template <> __device__ __forceinline__ float identity<float, SumOp>() { return 0.0f; }
template <> __device__ __forceinline__ double identity<double, SumOp>() { return 0.0; }
template <> __device__ __forceinline__ long long identity<long long, SumOp>() { return 0; }
template <> __device__ __forceinline__ float identity<float, MaxOp>() { return neg_inf<float>(); }
template <> __device__ __forceinline__ double identity<double, MaxOp>() { return neg_inf<double>(); }
template <> __device__ __forceinline__ long long identity<long long, MaxOp>() { return neg_inf<long long>(); }
template <> __device__ __forceinline__ float identity<float, MinOp>() { return pos_inf<float>(); }
template <> __device__ __forceinline__ double identity<double, MinOp>() { return pos_inf<double>(); }
template <> __device__ __forceinline__ long long identity<long long, MinOp>() { return pos_inf<long long>(); }

template <typename T, typename Op>
__device__ void reduce_block_impl(const T* x, T* y, const Shape8& outs, const Strides8& xo, const Strides8& yo,
                                  const Shape8& reds, const Strides8& xr)
{
    __shared__ T scratch[32];
    Op op;
    for (long long o = blockIdx.x; o < outs.numel; o += gridDim.x) // block-uniform loop
    {
        long long c[TTT_MAX_DIMS];
        unravel(o, outs, c);
        const long long base = offset_of(c, xo);
        T acc = identity<T, Op>();
        for (long long r = threadIdx.x; r < reds.numel; r += blockDim.x)
        {
            long long rc[TTT_MAX_DIMS];
            unravel(r, reds, rc);
            acc = op(acc, x[base + offset_of(rc, xr)]);
        }
        acc = block_reduce(acc, op, scratch);
        if (threadIdx.x == 0) y[offset_of(c, yo)] = acc;
    }
}

template <typename T, typename Op>
__device__ void reduce_thread_impl(const T* x, T* y, const Shape8& outs, const Strides8& xo, const Strides8& yo,
                                   const Shape8& reds, const Strides8& xr)
{
    Op op;
    for (long long o = grid_start(); o < outs.numel; o += grid_step())
    {
        long long c[TTT_MAX_DIMS];
        unravel(o, outs, c);
        const long long base = offset_of(c, xo);
        T acc = identity<T, Op>();
        for (long long r = 0; r < reds.numel; ++r)
        {
            long long rc[TTT_MAX_DIMS];
            unravel(r, reds, rc);
            acc = op(acc, x[base + offset_of(rc, xr)]);
        }
        y[offset_of(c, yo)] = acc;
    }
}

// Whether candidate (a, ia) beats (b, ib) for argmax (max = true) or argmin: the first NaN wins over everything,
// then the larger (smaller) value, ties to the lower index. ib < 0 marks "no candidate yet".
template <typename T> __device__ __forceinline__ bool arg_better(T a, long long ia, T b, long long ib, bool max)
{
    if (ia < 0) return false;
    if (ib < 0) return true;
    bool na = is_nan(a), nb = is_nan(b);
    if (na || nb) return na && (!nb || ia < ib);
    if (a == b) return ia < ib;
    return max ? a > b : a < b;
}

template <typename T>
__device__ void argreduce_block_impl(const T* x, long long* y, const Shape8& outs, const Strides8& xo, const Strides8& yo,
                                     long long len, long long stride, bool max)
{
    __shared__ T sv[32];
    __shared__ long long si[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (long long o = blockIdx.x; o < outs.numel; o += gridDim.x) // block-uniform loop
    {
        long long c[TTT_MAX_DIMS];
        unravel(o, outs, c);
        const long long base = offset_of(c, xo);
        T best = T(0);
        long long bi = -1;
        for (long long j = threadIdx.x; j < len; j += blockDim.x)
        {
            T v = x[base + j * stride];
            if (arg_better(v, j, best, bi, max))
            {
                best = v;
                bi = j;
            }
        }
#pragma unroll
        for (int s = 16; s > 0; s >>= 1)
        {
            T ov = __shfl_xor_sync(0xffffffffu, best, s);
            long long oi = __shfl_xor_sync(0xffffffffu, bi, s);
            if (arg_better(ov, oi, best, bi, max))
            {
                best = ov;
                bi = oi;
            }
        }
        if (lane == 0)
        {
            sv[warp] = best;
            si[warp] = bi;
        }
        __syncthreads();
        if (threadIdx.x == 0)
        {
            T b = sv[0];
            long long ib = si[0];
            for (int w = 1; w < warps; ++w)
                if (arg_better(sv[w], si[w], b, ib, max))
                {
                    b = sv[w];
                    ib = si[w];
                }
            y[offset_of(c, yo)] = ib < 0 ? 0 : ib;
        }
        __syncthreads();
    }
}

template <typename T>
__device__ void argreduce_thread_impl(const T* x, long long* y, const Shape8& outs, const Strides8& xo, const Strides8& yo,
                                      long long len, long long stride, bool max)
{
    for (long long o = grid_start(); o < outs.numel; o += grid_step())
    {
        long long c[TTT_MAX_DIMS];
        unravel(o, outs, c);
        const long long base = offset_of(c, xo);
        T best = T(0);
        long long bi = -1;
        for (long long j = 0; j < len; ++j)
        {
            T v = x[base + j * stride];
            if (arg_better(v, j, best, bi, max))
            {
                best = v;
                bi = j;
            }
        }
        y[offset_of(c, yo)] = bi < 0 ? 0 : bi;
    }
}

#define REDUCE_ENTRIES(SUF, T)                                                                                         \
    TTT_REDUCE_KERNEL void reduce_block_##SUF(const T* x, T* y, Shape8 outs, Strides8 xo, Strides8 yo, Shape8 reds,           \
                                       Strides8 xr, int op)                                                            \
    {                                                                                                                  \
        if (op == R_Sum) reduce_block_impl<T, SumOp>(x, y, outs, xo, yo, reds, xr);                                     \
        else if (op == R_Max) reduce_block_impl<T, MaxOp>(x, y, outs, xo, yo, reds, xr);                                \
        else reduce_block_impl<T, MinOp>(x, y, outs, xo, yo, reds, xr);                                                 \
    }                                                                                                                  \
    TTT_REGISTER(reduce_block_##SUF)                                                                                   \
    TTT_KERNEL void reduce_thread_##SUF(const T* x, T* y, Shape8 outs, Strides8 xo, Strides8 yo, Shape8 reds,          \
                                        Strides8 xr, int op)                                                           \
    {                                                                                                                  \
        if (op == R_Sum) reduce_thread_impl<T, SumOp>(x, y, outs, xo, yo, reds, xr);                                    \
        else if (op == R_Max) reduce_thread_impl<T, MaxOp>(x, y, outs, xo, yo, reds, xr);                               \
        else reduce_thread_impl<T, MinOp>(x, y, outs, xo, yo, reds, xr);                                                \
    }                                                                                                                  \
    TTT_REGISTER(reduce_thread_##SUF)                                                                                  \
    TTT_REDUCE_KERNEL void argreduce_block_##SUF(const T* x, long long* y, Shape8 outs, Strides8 xo, Strides8 yo,             \
                                          long long len, long long stride, int op)                                     \
    {                                                                                                                  \
        argreduce_block_impl<T>(x, y, outs, xo, yo, len, stride, op == A_ArgMax);                                      \
    }                                                                                                                  \
    TTT_REGISTER(argreduce_block_##SUF)                                                                                \
    TTT_KERNEL void argreduce_thread_##SUF(const T* x, long long* y, Shape8 outs, Strides8 xo, Strides8 yo,            \
                                           long long len, long long stride, int op)                                    \
    {                                                                                                                  \
        argreduce_thread_impl<T>(x, y, outs, xo, yo, len, stride, op == A_ArgMax);                                     \
    }                                                                                                                  \
    TTT_REGISTER(argreduce_thread_##SUF)

REDUCE_ENTRIES(f32, float)
REDUCE_ENTRIES(f64, double)
REDUCE_ENTRIES(i64, long long)
