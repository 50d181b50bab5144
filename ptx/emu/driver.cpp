// The CUDA driver API entry points Ttt binds (src/Cuda/Native/CuDriver.cs), implemented on the CPU: one emulated
// device whose memory is host memory (each allocation ends at a guard page, so writes past its end crash with a
// message naming the kernel) and whose kernels are the ptx/*.cu sources compiled as C++ (see cuda_emu.h).
// Modules check that the requested kernel exists in the PTX text handed to cuModuleLoadData and that its .entry
// parameters have the sizes of the C++ entry point.
#include "runtime.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <regex>
#include <sys/mman.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void* CUcontext;
typedef void* CUmodule;
typedef void* CUfunction;
typedef void* CUstream;
typedef void* CUevent;

namespace
{
constexpr CUresult Success = 0, InvalidValue = 1, OutOfMemory = 2, InvalidDevice = 101, InvalidImage = 200,
                   InvalidHandle = 400, NotFound = 500, LaunchFailed = 719;

struct Allocation
{
    void* map;
    size_t map_bytes;
    size_t bytes;
};

std::mutex g_mutex;
std::map<CUdeviceptr, Allocation> g_allocations;
size_t g_used = 0;
int g_context_token = 0;
std::string g_last_error;

size_t total_memory()
{
    static size_t total = [] {
        const char* e = getenv("TTT_CUDA_EMU_MEMORY");
        return e ? (size_t)strtoull(e, nullptr, 10) : (size_t)4 << 30;
    }();
    return total;
}

struct Module
{
    std::string ptx;
};

struct Function
{
    const ttt_emu::KernelEntry* entry;
};

struct Event
{
    std::chrono::steady_clock::time_point time;
};

// Sizes of the .param declarations of `.entry name(` in a PTX text; empty when the entry is missing.
bool ptx_params(const std::string& ptx, const std::string& name, std::vector<size_t>& sizes)
{
    std::string head = ".entry " + name + "(";
    size_t at = ptx.find(head);
    if (at == std::string::npos) return false;
    size_t end = ptx.find(')', at);
    std::string list = ptx.substr(at + head.size(), end - at - head.size());
    static const std::regex param(R"(\.param\s+(?:\.align\s+\d+\s+)?\.(\w+)\s+\w+(?:\[(\d+)\])?)");
    for (std::sregex_iterator it(list.begin(), list.end(), param), e; it != e; ++it)
    {
        std::string type = (*it)[1];
        if ((*it)[2].matched) sizes.push_back((size_t)std::stoul((*it)[2]));
        else if (type == "u64" || type == "s64" || type == "f64" || type == "b64") sizes.push_back(8);
        else if (type == "u32" || type == "s32" || type == "f32" || type == "b32") sizes.push_back(4);
        else sizes.push_back(0);
    }
    return true;
}
} // namespace

extern "C"
{
CUresult cuInit(unsigned int)
{
    ttt_emu::install_crash_handler();
    return Success;
}
CUresult cuDriverGetVersion(int* v)
{
    *v = 13000;
    return Success;
}
CUresult cuDeviceGetCount(int* n)
{
    *n = 1;
    return Success;
}
CUresult cuDeviceGet(CUdevice* d, int ordinal)
{
    if (ordinal != 0) return InvalidDevice;
    *d = 0;
    return Success;
}
CUresult cuDeviceGetName(char* name, int len, CUdevice)
{
    snprintf(name, (size_t)len, "Ttt CUDA emulator (CPU)");
    return Success;
}
CUresult cuDeviceGetAttribute(int* v, int attribute, CUdevice)
{
    switch (attribute)
    {
    case 1: *v = 1024; break;  // max threads per block
    case 8: *v = 49152; break; // shared memory per block
    case 10: *v = 32; break;   // warp size
    case 16: *v = 1; break;    // multiprocessors: keeps grid-stride grids small
    case 75: *v = 9; break;    // compute capability major
    case 76: *v = 0; break;    // minor
    default: *v = 0; break;
    }
    return Success;
}
CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice)
{
    *bytes = total_memory();
    return Success;
}
CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice)
{
    *ctx = &g_context_token;
    return Success;
}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice) { return Success; }
CUresult cuCtxSetCurrent(CUcontext) { return Success; }
CUresult cuCtxSynchronize() { return Success; }

CUresult cuModuleLoadData(CUmodule* m, const void* image)
{
    if (image == nullptr) return InvalidImage;
    *m = new Module{static_cast<const char*>(image)};
    return Success;
}
CUresult cuModuleLoadDataEx(CUmodule* m, const void* image, unsigned int, int*, void**) { return cuModuleLoadData(m, image); }
CUresult cuModuleUnload(CUmodule m)
{
    delete static_cast<Module*>(m);
    return Success;
}
CUresult cuModuleGetFunction(CUfunction* f, CUmodule m, const char* name)
{
    auto* module = static_cast<Module*>(m);
    std::vector<size_t> sizes;
    if (!ptx_params(module->ptx, name, sizes))
    {
        fprintf(stderr, "ttt cuda emulator: kernel %s is not in the module's PTX\n", name);
        return NotFound;
    }
    const ttt_emu::KernelEntry* entry = ttt_emu::find_kernel(name);
    if (entry == nullptr)
    {
        fprintf(stderr, "ttt cuda emulator: kernel %s is not compiled into the emulator\n", name);
        return NotFound;
    }
    if (sizes != entry->param_sizes)
    {
        fprintf(stderr, "ttt cuda emulator: kernel %s: the PTX declares %zu parameters, the C++ entry point %zu (or their sizes differ)\n",
                name, sizes.size(), entry->param_sizes.size());
        return InvalidImage;
    }
    *f = new Function{entry};
    return Success;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, CUstream, void** params, void** extra)
{
    if (f == nullptr || params == nullptr || extra != nullptr || shared != 0) return InvalidValue;
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || bx * by * bz > 1024) return InvalidValue;
    std::string error;
    if (!ttt_emu::launch(*static_cast<Function*>(f)->entry, dim3{gx, gy, gz}, dim3{bx, by, bz}, params, error))
    {
        fprintf(stderr, "ttt cuda emulator: kernel %s failed: %s\n", static_cast<Function*>(f)->entry->name.c_str(), error.c_str());
        return LaunchFailed;
    }
    return Success;
}

CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes)
{
    if (bytes == 0) return InvalidValue;
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_used + bytes > total_memory()) return OutOfMemory;
    const size_t page = 4096;
    size_t rounded = (bytes + 255) / 256 * 256;
    size_t data_pages = (rounded + page - 1) / page;
    size_t map_bytes = (data_pages + 1) * page;
    void* map = mmap(nullptr, map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return OutOfMemory;
    char* guard = static_cast<char*>(map) + data_pages * page;
    mprotect(guard, page, PROT_NONE);
    // The block ends right at the guard page (256-byte aligned, as cuMemAlloc guarantees).
    CUdeviceptr ptr = (CUdeviceptr)(guard - rounded);
    g_allocations[ptr] = Allocation{map, map_bytes, bytes};
    g_used += bytes;
    *p = ptr;
    return Success;
}
CUresult cuMemFree_v2(CUdeviceptr p)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_allocations.find(p);
    if (it == g_allocations.end()) return InvalidValue;
    munmap(it->second.map, it->second.map_bytes);
    g_used -= it->second.bytes;
    g_allocations.erase(it);
    return Success;
}
CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    *total = total_memory();
    *free_bytes = total_memory() - g_used;
    return Success;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n)
{
    std::memcpy((void*)dst, src, n);
    return Success;
}
CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n)
{
    std::memcpy(dst, (const void*)src, n);
    return Success;
}
CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n)
{
    std::memmove((void*)dst, (const void*)src, n);
    return Success;
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, CUstream) { return cuMemcpyHtoD_v2(dst, src, n); }
CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, CUstream) { return cuMemcpyDtoH_v2(dst, src, n); }
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream) { return cuMemcpyDtoD_v2(dst, src, n); }
CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n)
{
    std::memset((void*)dst, v, n);
    return Success;
}
CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned int v, size_t n)
{
    auto* p = (unsigned int*)dst;
    for (size_t i = 0; i < n; ++i) p[i] = v;
    return Success;
}
CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream) { return cuMemsetD8_v2(dst, v, n); }
CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned int v, size_t n, CUstream) { return cuMemsetD32_v2(dst, v, n); }

CUresult cuStreamCreate(CUstream* s, unsigned int)
{
    *s = new int(0);
    return Success;
}
CUresult cuStreamDestroy_v2(CUstream s)
{
    delete static_cast<int*>(s);
    return Success;
}
CUresult cuStreamSynchronize(CUstream) { return Success; }

CUresult cuEventCreate(CUevent* e, unsigned int)
{
    *e = new Event{};
    return Success;
}
CUresult cuEventRecord(CUevent e, CUstream)
{
    if (e == nullptr) return InvalidHandle;
    static_cast<Event*>(e)->time = std::chrono::steady_clock::now();
    return Success;
}
CUresult cuEventSynchronize(CUevent e) { return e == nullptr ? InvalidHandle : Success; }
CUresult cuEventElapsedTime(float* ms, CUevent start, CUevent end)
{
    if (start == nullptr || end == nullptr) return InvalidHandle;
    *ms = std::chrono::duration<float, std::milli>(static_cast<Event*>(end)->time - static_cast<Event*>(start)->time).count();
    return Success;
}
CUresult cuEventDestroy_v2(CUevent e)
{
    delete static_cast<Event*>(e);
    return Success;
}

CUresult cuGetErrorName(CUresult error, const char** name)
{
    switch (error)
    {
    case 0: *name = "CUDA_SUCCESS"; return Success;
    case 1: *name = "CUDA_ERROR_INVALID_VALUE"; return Success;
    case 2: *name = "CUDA_ERROR_OUT_OF_MEMORY"; return Success;
    case 101: *name = "CUDA_ERROR_INVALID_DEVICE"; return Success;
    case 200: *name = "CUDA_ERROR_INVALID_IMAGE"; return Success;
    case 400: *name = "CUDA_ERROR_INVALID_HANDLE"; return Success;
    case 500: *name = "CUDA_ERROR_NOT_FOUND"; return Success;
    case 719: *name = "CUDA_ERROR_LAUNCH_FAILED"; return Success;
    default: *name = nullptr; return InvalidValue;
    }
}
CUresult cuGetErrorString(CUresult error, const char** text)
{
    switch (error)
    {
    case 0: *text = "no error"; return Success;
    case 1: *text = "invalid argument"; return Success;
    case 2: *text = "out of memory (emulated device)"; return Success;
    case 719: *text = "unspecified launch failure (see the emulator's message on stderr)"; return Success;
    default: *text = nullptr; return InvalidValue;
    }
}
}
