#!/usr/bin/env bash
# Builds the CPU emulator of the CUDA driver and cuBLAS (no GPU, no CUDA toolkit: clang++ only) into
# artifacts/cuda-emu/: libcuda.so.1 (the driver API and every kernel of ptx/*.cu compiled as C++) and
# libcublas.so.13. Run the CUDA tests against it with
#   TTT_CUDA_LIB_DIR=$PWD/artifacts/cuda-emu dotnet test tests/Cuda.Tests/Ttt.Cuda.Tests.csproj -c Release
# It checks the backend's launch logic, layouts, kernels' indexing, block reductions and the GEMM mapping;
# it does not replace the GPU run (timing, the real JIT of the PTX, memory model, cuBLAS itself).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/artifacts/cuda-emu"
mkdir -p "$out"
CXX="${CXX:-clang++-14}"
FLAGS=(-std=c++17 -O2 -g -fPIC -Wall -Wno-unused-function -Wno-unused-variable)
objs=()
for cu in "$here"/../*.cu; do
    o="$out/$(basename "${cu%.cu}").o"
    "$CXX" "${FLAGS[@]}" -x c++ -include "$here/cuda_emu.h" -I "$here/.." -c "$cu" -o "$o"
    objs+=("$o")
done
"$CXX" "${FLAGS[@]}" -c "$here/runtime.cpp" -o "$out/runtime.o"
"$CXX" "${FLAGS[@]}" -c "$here/driver.cpp" -o "$out/driver.o"
"$CXX" -shared -o "$out/libcuda.so.1" -Wl,-soname,libcuda.so.1 "$out/driver.o" "$out/runtime.o" "${objs[@]}" -lpthread
"$CXX" "${FLAGS[@]}" -shared -o "$out/libcublas.so.13" -Wl,-soname,libcublas.so.13 "$here/cublas.cpp"
rm -f "$out"/*.o
echo "built $out/libcuda.so.1 and $out/libcublas.so.13"
