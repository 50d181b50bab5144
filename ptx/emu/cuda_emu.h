// CPU emulation of the CUDA built-ins the Ttt kernels use, so that ptx/*.cu compile as plain C++ into the
// emulator library (ptx/emu/build.sh). Not used by the real build: nvcc never sees this file.
//
// Model: one launch runs its blocks one after another on the calling OS thread; the threads of a block are
// cooperative fibers that switch only at __syncthreads and at warp shuffles, so shared memory can be a static
// array and atomics are plain read-modify-writes. Barrier misuse (threads of a block or warp waiting at different
// barriers) is detected and fails the launch instead of hanging.
#pragma once
#define TTT_EMULATION 1

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

struct dim3
{
    unsigned int x = 1, y = 1, z = 1;
};

namespace ttt_emu
{
// The coordinates of the fiber that is running now.
struct ThreadCoords
{
    dim3 tid, bid, bdim, gdim;
};
extern thread_local ThreadCoords* current;

// Block-wide barrier (__syncthreads).
void sync_threads();
// Exchanges 8 bytes with lane `source_lane` of the caller's warp (all live lanes of the warp must call it).
uint64_t warp_exchange(uint64_t mine, int source_lane);
int lane_id();

// A kernel as the emulated driver calls it: unpacks cuLaunchKernel's void** parameters.
struct KernelEntry
{
    std::string name;
    std::vector<size_t> param_sizes;
    std::function<void(void**)> invoke;
};
void register_kernel(KernelEntry entry);

template <typename... A, size_t... I> void invoke_with(void (*f)(A...), void** params, std::index_sequence<I...>)
{
    f(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(params[I])...);
}

struct Registrar
{
    template <typename... A> Registrar(const char* name, void (*f)(A...))
    {
        register_kernel(KernelEntry{name, {sizeof(A)...}, [f](void** params) {
                                        invoke_with(f, params, std::index_sequence_for<A...>{});
                                    }});
    }
};

template <typename T> inline uint64_t to_bits(T v)
{
    static_assert(sizeof(T) <= 8, "shuffle of more than 8 bytes");
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    return b;
}
template <typename T> inline T from_bits(uint64_t b)
{
    T v;
    std::memcpy(&v, &b, sizeof(T));
    return v;
}
} // namespace ttt_emu

#define threadIdx (ttt_emu::current->tid)
#define blockIdx (ttt_emu::current->bid)
#define blockDim (ttt_emu::current->bdim)
#define gridDim (ttt_emu::current->gdim)

#define TTT_REGISTER(name) static ttt_emu::Registrar ttt_registrar_##name(#name, &name);

inline void __syncthreads() { ttt_emu::sync_threads(); }

template <typename T> inline T __shfl_xor_sync(unsigned int, T v, int lane_mask)
{
    int src = ttt_emu::lane_id() ^ lane_mask;
    return ttt_emu::from_bits<T>(ttt_emu::warp_exchange(ttt_emu::to_bits(v), src));
}

template <typename T> inline T __shfl_down_sync(unsigned int, T v, unsigned int delta)
{
    int src = ttt_emu::lane_id() + (int)delta;
    return ttt_emu::from_bits<T>(ttt_emu::warp_exchange(ttt_emu::to_bits(v), src < 32 ? src : -1));
}

// Fibers of one block never run at the same time, so atomics are plain updates.
inline float atomicAdd(float* p, float v)
{
    float old = *p;
    *p = old + v;
    return old;
}
inline double atomicAdd(double* p, double v)
{
    double old = *p;
    *p = old + v;
    return old;
}
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v)
{
    unsigned long long old = *p;
    *p = old + v;
    return old;
}

inline float __int_as_float(int v) { return ttt_emu::from_bits<float>((uint32_t)v); }
inline unsigned int __float_as_uint(float v) { return (unsigned int)ttt_emu::to_bits(v); }
inline double __longlong_as_double(long long v) { return ttt_emu::from_bits<double>((uint64_t)v); }
