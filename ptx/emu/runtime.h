// Internal interface between the emulated driver (driver.cpp) and the fiber scheduler (runtime.cpp).
#pragma once
#include "cuda_emu.h"
#include <unistd.h>

namespace ttt_emu
{
const KernelEntry* find_kernel(const std::string& name);
bool launch(const KernelEntry& kernel, dim3 grid, dim3 block, void** params, std::string& error);
void install_crash_handler();
} // namespace ttt_emu
