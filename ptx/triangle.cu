// Triangle family: tril/triu mask of the last two dims. Launcher: src/Cuda/CudaBackend.Triangle.cs.
// y[.., r, c] = keep ? x[.., r, c] : 0 with keep = c − r ≤ diagonal (lower) or c − r ≥ diagonal (upper).
// r and c come from the linear index, so the host may merge dims freely.
#include "common.cuh"

template <typename T>
__device__ void triangle_impl(const T* x, T* y, const Shape8& s, const Strides8& xs, const Strides8& ys, long long rows,
                              long long cols, long long diagonal, bool upper)
{
    for (long long i = grid_start(); i < s.numel; i += grid_step())
    {
        long long c[TTT_MAX_DIMS];
        unravel(i, s, c);
        long long col = i % cols, row = (i / cols) % rows;
        bool keep = upper ? col - row >= diagonal : col - row <= diagonal;
        y[offset_of(c, ys)] = keep ? x[offset_of(c, xs)] : T(0);
    }
}

#define TRIANGLE_ENTRY(SUF, T)                                                                                         \
    TTT_KERNEL void triangle_##SUF(const T* x, T* y, Shape8 s, Strides8 xs, Strides8 ys, long long rows, long long cols, \
                                   long long diagonal, int upper)                                                      \
    {                                                                                                                  \
        triangle_impl<T>(x, y, s, xs, ys, rows, cols, diagonal, upper != 0);                                           \
    }                                                                                                                  \
    TTT_REGISTER(triangle_##SUF)

TRIANGLE_ENTRY(f32, float)
TRIANGLE_ENTRY(f64, double)
TRIANGLE_ENTRY(i64, long long)
