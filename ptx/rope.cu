// Rotary position embedding family (fused), interleaved pairs. Launcher: src/Cuda/Fused/FusedRope.cs;
// CPU oracle: tests/Cuda.Tests/Fused/FusedReference.cs.
//
// x, y: contiguous, last dim d (even) holds d/2 interleaved pairs (x[2i], x[2i+1]); the time dim has `time`
// positions and `timeStride` elements per step (e.g. [B, T, H, d]: timeStride = H·d; [B, H, T, d]: d).
// Pair i at position p (positions[t], or t when positions is null) turns by the angle p·θ^(−2i/d):
//   y[2i] = x[2i]·cos − x[2i+1]·sin,  y[2i+1] = x[2i]·sin + x[2i+1]·cos.
// inverse ≠ 0 turns the other way (the backward: the transpose of a rotation is its inverse).
// The angle, its sine and cosine are computed in double for both dtypes (positions reach 10⁵ and more).
// y may alias x (in place).
#include "common.cuh"

template <typename T>
__device__ void rope_impl(const T* x, T* y, long long pairs, long long dim, long long time, long long timeStride,
                          const long long* positions, double theta, bool inverse)
{
    for (long long p = grid_start(); p < pairs; p += grid_step())
    {
        const long long e = 2 * p;
        const long long i = (e % dim) / 2;
        const long long t = (e / timeStride) % time;
        const double pos = positions ? (double)positions[t] : (double)t;
        const double angle = pos * pow(theta, -2.0 * (double)i / (double)dim);
        double sn, cs;
        sincos(angle, &sn, &cs);
        if (inverse) sn = -sn;
        const double x0 = (double)x[e], x1 = (double)x[e + 1];
        y[e] = T(x0 * cs - x1 * sn);
        y[e + 1] = T(x0 * sn + x1 * cs);
    }
}

#define ROPE_ENTRY(SUF, T)                                                                                             \
    TTT_KERNEL void rope_##SUF(const T* x, T* y, long long pairs, long long dim, long long time, long long timeStride,  \
                               const long long* positions, double theta, int inverse)                                  \
    {                                                                                                                  \
        rope_impl<T>(x, y, pairs, dim, time, timeStride, positions, theta, inverse != 0);                              \
    }                                                                                                                  \
    TTT_REGISTER(rope_##SUF)

ROPE_ENTRY(f32, float)
ROPE_ENTRY(f64, double)
