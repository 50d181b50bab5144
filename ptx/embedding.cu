// Embedding family (fused lookup), forward and backward.
// Launchers: src/Cuda/Fused/FusedEmbedding.cs; CPU oracle: tests/Cuda.Tests/Fused/FusedReference.cs.
//
// Shapes: ids [n] int64; table, dtable [vocab, dim] contiguous; y, dy [n, dim] contiguous.
// Forward: y[i, :] = table[ids[i], :]; an id outside [0, vocab) sets *status = 1 and yields a zero row.
// Backward: dtable[ids[i], :] += dy[i, :] (atomics; dtable zeroed by the host; bad ids are skipped).
#include "common.cuh"

template <typename T>
__device__ void embedding_fwd_impl(const long long* ids, const T* table, T* y, long long n, long long dim,
                                   long long vocab, int* status)
{
    const long long total = n * dim;
    for (long long i = grid_start(); i < total; i += grid_step())
    {
        const long long r = i / dim, j = i - r * dim;
        const long long id = ids[r];
        if (id < 0 || id >= vocab)
        {
            *status = 1;
            y[i] = T(0);
        }
        else
        {
            y[i] = table[id * dim + j];
        }
    }
}

template <typename T>
__device__ void embedding_bwd_impl(const long long* ids, const T* dy, T* dtable, long long n, long long dim, long long vocab)
{
    const long long total = n * dim;
    for (long long i = grid_start(); i < total; i += grid_step())
    {
        const long long r = i / dim, j = i - r * dim;
        const long long id = ids[r];
        if (id >= 0 && id < vocab) atomic_add(dtable + id * dim + j, dy[i]);
    }
}

#define EMBEDDING_ENTRIES(SUF, T)                                                                                      \
    TTT_KERNEL void embedding_fwd_##SUF(const long long* ids, const T* table, T* y, long long n, long long dim,         \
                                        long long vocab, int* status)                                                  \
    {                                                                                                                  \
        embedding_fwd_impl<T>(ids, table, y, n, dim, vocab, status);                                                   \
    }                                                                                                                  \
    TTT_REGISTER(embedding_fwd_##SUF)                                                                                  \
    TTT_KERNEL void embedding_bwd_##SUF(const long long* ids, const T* dy, T* dtable, long long n, long long dim,       \
                                        long long vocab)                                                               \
    {                                                                                                                  \
        embedding_bwd_impl<T>(ids, dy, dtable, n, dim, vocab);                                                         \
    }                                                                                                                  \
    TTT_REGISTER(embedding_bwd_##SUF)

EMBEDDING_ENTRIES(f32, float)
EMBEDDING_ENTRIES(f64, double)
