// Fiber scheduler of the CUDA emulator: runs the blocks of a launch one after another, the threads of a block as
// cooperative fibers (ucontext), and releases __syncthreads / warp-shuffle barriers when every live thread of the
// block / warp has reached them. See cuda_emu.h.
#include "runtime.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <sys/mman.h>
#include <ucontext.h>

namespace ttt_emu
{
thread_local ThreadCoords* current = nullptr;

namespace
{
enum class State
{
    Runnable,
    AtBlockBarrier,
    AtWarpBarrier,
    Done,
};

struct Fiber
{
    ucontext_t context;
    ThreadCoords coords;
    State state = State::Runnable;
    int linear = 0;
    uint64_t slot = 0; // shuffle exchange
};

constexpr size_t StackBytes = 128 * 1024;
constexpr int MaxThreads = 1024;

struct BlockRun
{
    std::vector<Fiber> fibers;
    ucontext_t scheduler;
    Fiber* running = nullptr;
    const KernelEntry* kernel = nullptr;
    void** params = nullptr;
};

thread_local BlockRun* t_run = nullptr;
char* g_stacks = nullptr; // MaxThreads stacks, reserved once
std::mutex g_launch_mutex;
const char* volatile g_kernel_name = nullptr; // for the crash message
struct sigaction g_previous_segv;

std::map<std::string, KernelEntry>& registry()
{
    static std::map<std::string, KernelEntry> r;
    return r;
}

void fiber_main()
{
    BlockRun* run = t_run;
    run->kernel->invoke(run->params);
    run->running->state = State::Done;
    swapcontext(&run->running->context, &run->scheduler);
}

void yield(State s)
{
    BlockRun* run = t_run;
    Fiber* f = run->running;
    f->state = s;
    swapcontext(&f->context, &run->scheduler);
}

void on_segv(int sig, siginfo_t* info, void* uctx)
{
    if (g_kernel_name != nullptr)
    {
        char msg[512];
        int n = snprintf(msg, sizeof msg,
                         "ttt cuda emulator: segmentation fault at %p in kernel %s (out-of-bounds device memory "
                         "access? device blocks end at a guard page)\n",
                         info->si_addr, g_kernel_name);
        if (n > 0) (void)!write(2, msg, (size_t)n);
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
        return;
    }
    if (g_previous_segv.sa_flags & SA_SIGINFO)
        g_previous_segv.sa_sigaction(sig, info, uctx);
    else if (g_previous_segv.sa_handler != SIG_DFL && g_previous_segv.sa_handler != SIG_IGN)
        g_previous_segv.sa_handler(sig);
    else
    {
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
    }
}
} // namespace

void register_kernel(KernelEntry entry) { registry()[entry.name] = std::move(entry); }

const KernelEntry* find_kernel(const std::string& name)
{
    auto it = registry().find(name);
    return it == registry().end() ? nullptr : &it->second;
}

void install_crash_handler()
{
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa;
        std::memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, &g_previous_segv);
    });
}

int lane_id() { return t_run->running->linear & 31; }

void sync_threads() { yield(State::AtBlockBarrier); }

uint64_t warp_exchange(uint64_t mine, int source_lane)
{
    BlockRun* run = t_run;
    Fiber* f = run->running;
    f->slot = mine;
    yield(State::AtWarpBarrier);
    uint64_t result = mine;
    int src = (f->linear & ~31) + source_lane;
    if (source_lane >= 0 && source_lane < 32 && src < (int)run->fibers.size() && run->fibers[src].state != State::Done)
        result = run->fibers[src].slot;
    // Second barrier: nobody overwrites its slot before every lane has read.
    yield(State::AtWarpBarrier);
    return result;
}

// Runs one block; returns false (with a message in `error`) when its threads deadlock at barriers.
static bool run_block(BlockRun& run, dim3 grid, dim3 block, dim3 block_index, std::string& error)
{
    const int n = (int)(block.x * block.y * block.z);
    run.fibers.assign(n, Fiber{});
    for (int i = 0; i < n; ++i)
    {
        Fiber& f = run.fibers[i];
        f.linear = i;
        f.coords.tid = dim3{(unsigned)(i % block.x), (unsigned)((i / block.x) % block.y), (unsigned)(i / (block.x * block.y))};
        f.coords.bid = block_index;
        f.coords.bdim = block;
        f.coords.gdim = grid;
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = g_stacks + (size_t)i * StackBytes;
        f.context.uc_stack.ss_size = StackBytes;
        f.context.uc_link = nullptr;
        makecontext(&f.context, fiber_main, 0);
    }
    for (;;)
    {
        bool ran = false;
        for (int i = 0; i < n; ++i)
        {
            Fiber& f = run.fibers[i];
            if (f.state != State::Runnable) continue;
            run.running = &f;
            current = &f.coords;
            swapcontext(&run.scheduler, &f.context);
            ran = true;
        }
        int live = 0, at_block = 0;
        for (auto& f : run.fibers)
        {
            if (f.state == State::Done) continue;
            ++live;
            if (f.state == State::AtBlockBarrier) ++at_block;
        }
        if (live == 0) return true;
        bool released = false;
        if (at_block == live)
        {
            for (auto& f : run.fibers)
                if (f.state == State::AtBlockBarrier) f.state = State::Runnable;
            released = true;
        }
        else
        {
            for (int w = 0; w < n; w += 32)
            {
                int wl = 0, wa = 0;
                for (int i = w; i < n && i < w + 32; ++i)
                {
                    if (run.fibers[i].state == State::Done) continue;
                    ++wl;
                    if (run.fibers[i].state == State::AtWarpBarrier) ++wa;
                }
                if (wl > 0 && wa == wl)
                {
                    for (int i = w; i < n && i < w + 32; ++i)
                        if (run.fibers[i].state == State::AtWarpBarrier) run.fibers[i].state = State::Runnable;
                    released = true;
                }
            }
        }
        if (!released && !ran)
        {
            char msg[256];
            snprintf(msg, sizeof msg, "deadlock in block (%u, %u, %u): %d live threads, %d at __syncthreads, the rest at warp shuffles of partly waiting warps",
                     block_index.x, block_index.y, block_index.z, live, at_block);
            error = msg;
            return false;
        }
    }
}

bool launch(const KernelEntry& kernel, dim3 grid, dim3 block, void** params, std::string& error)
{
    std::lock_guard<std::mutex> lock(g_launch_mutex);
    if (g_stacks == nullptr)
    {
        void* p = mmap(nullptr, (size_t)MaxThreads * StackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
        {
            error = "cannot reserve fiber stacks";
            return false;
        }
        g_stacks = static_cast<char*>(p);
    }
    if (block.x * block.y * block.z > (unsigned)MaxThreads)
    {
        error = "block larger than 1024 threads";
        return false;
    }
    BlockRun run;
    run.kernel = &kernel;
    run.params = params;
    t_run = &run;
    g_kernel_name = kernel.name.c_str();
    bool ok = true;
    for (unsigned z = 0; z < grid.z && ok; ++z)
        for (unsigned y = 0; y < grid.y && ok; ++y)
            for (unsigned x = 0; x < grid.x && ok; ++x)
                ok = run_block(run, grid, block, dim3{x, y, z}, error);
    g_kernel_name = nullptr;
    t_run = nullptr;
    current = nullptr;
    return ok;
}
} // namespace ttt_emu
