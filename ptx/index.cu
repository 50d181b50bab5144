// Index family: index_select, index_add, gather, scatter_add along one dim `dim`.
// Launchers: src/Cuda/CudaBackend.Index.cs.
//
// Every kernel iterates the elements of one tensor (y for the selects, src for the adds) in row-major order over
// the shape s; the host may merge dims (the coordinate along `dim` is recovered from the linear index as
// j = (i / inner) % dimSize, not from the merged coordinates). The other operand is addressed with its own strides
// at the same coordinates and then moved along `dim` from j to the looked-up index: + (idx − j)·dimStride.
// Index values are already checked by the op layer to lie in range. The adds accumulate repeats with atomics
// (float, double and int64 atomicAdd), so float sums are order-independent only up to rounding.
#include "common.cuh"

__device__ __forceinline__ long long coord_along(long long i, long long inner, long long dimSize)
{
    return (i / inner) % dimSize;
}

// y = x.index_select(dim, index): y[.., j, ..] = x[.., index[j], ..]; index is 1-D (offset, stride).
template <typename T>
__device__ void index_select_impl(const T* x, const long long* index, T* y, const Shape8& s, const Strides8& ys,
                                  const Strides8& xs, long long inner, long long dimSize, long long xDimStride,
                                  long long idxOffset, long long idxStride)
{
    for (long long i = grid_start(); i < s.numel; i += grid_step())
    {
        long long c[TTT_MAX_DIMS];
        unravel(i, s, c);
        long long j = coord_along(i, inner, dimSize);
        long long k = index[idxOffset + j * idxStride];
        y[offset_of(c, ys)] = x[offset_of(c, xs) + (k - j) * xDimStride];
    }
}

// y.index_select(dim, index) += src: y[.., index[j], ..] += src[.., j, ..].
template <typename T>
__device__ void index_add_impl(T* y, const long long* index, const T* src, const Shape8& s, const Strides8& ss,
                               const Strides8& ys, long long inner, long long dimSize, long long yDimStride,
                               long long idxOffset, long long idxStride)
{
    for (long long i = grid_start(); i < s.numel; i += grid_step())
    {
        long long c[TTT_MAX_DIMS];
        unravel(i, s, c);
        long long j = coord_along(i, inner, dimSize);
        long long k = index[idxOffset + j * idxStride];
        atomic_add(y + offset_of(c, ys) + (k - j) * yDimStride, src[offset_of(c, ss)]);
    }
}

// y[.., j, ..] = x[.., index[.., j, ..], ..]; index has y's shape.
template <typename T>
__device__ void gather_impl(const T* x, const long long* index, T* y, const Shape8& s, const Strides8& ys,
                            const Strides8& is, const Strides8& xs, long long inner, long long dimSize, long long xDimStride)
{
    for (long long i = grid_start(); i < s.numel; i += grid_step())
    {
        long long c[TTT_MAX_DIMS];
        unravel(i, s, c);
        long long j = coord_along(i, inner, dimSize);
        long long k = index[offset_of(c, is)];
        y[offset_of(c, ys)] = x[offset_of(c, xs) + (k - j) * xDimStride];
    }
}

// y[.., index[.., j, ..], ..] += src[.., j, ..]; index has src's shape.
template <typename T>
__device__ void scatter_add_impl(T* y, const long long* index, const T* src, const Shape8& s, const Strides8& ss,
                                 const Strides8& is, const Strides8& ys, long long inner, long long dimSize,
                                 long long yDimStride)
{
    for (long long i = grid_start(); i < s.numel; i += grid_step())
    {
        long long c[TTT_MAX_DIMS];
        unravel(i, s, c);
        long long j = coord_along(i, inner, dimSize);
        long long k = index[offset_of(c, is)];
        atomic_add(y + offset_of(c, ys) + (k - j) * yDimStride, src[offset_of(c, ss)]);
    }
}

#define INDEX_ENTRIES(SUF, T)                                                                                          \
    TTT_KERNEL void index_select_##SUF(const T* x, const long long* index, T* y, Shape8 s, Strides8 ys, Strides8 xs,    \
                                       long long inner, long long dimSize, long long xDimStride, long long idxOffset,  \
                                       long long idxStride)                                                            \
    {                                                                                                                  \
        index_select_impl<T>(x, index, y, s, ys, xs, inner, dimSize, xDimStride, idxOffset, idxStride);                \
    }                                                                                                                  \
    TTT_REGISTER(index_select_##SUF)                                                                                   \
    TTT_KERNEL void index_add_##SUF(T* y, const long long* index, const T* src, Shape8 s, Strides8 ss, Strides8 ys,     \
                                    long long inner, long long dimSize, long long yDimStride, long long idxOffset,     \
                                    long long idxStride)                                                               \
    {                                                                                                                  \
        index_add_impl<T>(y, index, src, s, ss, ys, inner, dimSize, yDimStride, idxOffset, idxStride);                 \
    }                                                                                                                  \
    TTT_REGISTER(index_add_##SUF)                                                                                      \
    TTT_KERNEL void gather_##SUF(const T* x, const long long* index, T* y, Shape8 s, Strides8 ys, Strides8 is,         \
                                 Strides8 xs, long long inner, long long dimSize, long long xDimStride)                \
    {                                                                                                                  \
        gather_impl<T>(x, index, y, s, ys, is, xs, inner, dimSize, xDimStride);                                        \
    }                                                                                                                  \
    TTT_REGISTER(gather_##SUF)                                                                                         \
    TTT_KERNEL void scatter_add_##SUF(T* y, const long long* index, const T* src, Shape8 s, Strides8 ss, Strides8 is,  \
                                      Strides8 ys, long long inner, long long dimSize, long long yDimStride)           \
    {                                                                                                                  \
        scatter_add_impl<T>(y, index, src, s, ss, is, ys, inner, dimSize, yDimStride);                                 \
    }                                                                                                                  \
    TTT_REGISTER(scatter_add_##SUF)

INDEX_ENTRIES(f32, float)
INDEX_ENTRIES(f64, double)
INDEX_ENTRIES(i64, long long)
