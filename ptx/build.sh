#!/usr/bin/env bash
# Builds the committed PTX of every kernel family. This is the only place nvcc runs; the .NET build and CI only
# embed the committed ptx/*.ptx and never need a CUDA toolkit.
#
#   ptx/build.sh            rebuild every ptx/*.ptx, ptx/manifest and ptx/resources.txt
#   ptx/build.sh --check    rebuild into a temporary folder and fail if the committed files differ
#
# Needs nvcc and ptxas (Debian: nvidia-cuda-toolkit, CUDA 11.8) and clang-14 as the host compiler (that nvcc
# refuses g++ > 11). The PTX targets compute_80 (.target sm_80); the driver JIT-compiles it for newer GPUs
# (the H200 is sm_90). resources.txt records `ptxas -arch=sm_90 -v` per kernel: registers, shared memory,
# stack and spills — keep spills at zero.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

FLAGS=(-ccbin clang-14 -ptx -arch=compute_80 -O3 -std=c++17)
PTXAS_ARCH=sm_90

check=0
if [[ "${1:-}" == "--check" ]]; then check=1; fi
out="$here"
if (( check )); then out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT; fi

command -v nvcc >/dev/null || { echo "build.sh: nvcc not found (apt-get install nvidia-cuda-toolkit)" >&2; exit 1; }
command -v clang-14 >/dev/null || { echo "build.sh: clang-14 not found (apt-get install clang-14)" >&2; exit 1; }

sources=(*.cu)
for cu in "${sources[@]}"; do
    nvcc "${FLAGS[@]}" -o "$out/${cu%.cu}.ptx" "$cu"
done

# Manifest: what the PTX was built from. A CPU test recomputes the sha256 of every source and of every .ptx.
{
    echo "# ptx/manifest: written by ptx/build.sh; do not edit. A test checks these hashes against the files."
    echo "nvcc: $(nvcc --version | tail -n 2 | head -n 1)"
    echo "flags: ${FLAGS[*]}"
    for f in common.cuh "${sources[@]}"; do
        echo "source $(sha256sum "$f" | cut -d' ' -f1) $f"
    done
    for cu in "${sources[@]}"; do
        p="${cu%.cu}.ptx"
        echo "ptx $(sha256sum "$out/$p" | cut -d' ' -f1) $p"
    done
} > "$out/manifest"

# Resource usage per kernel on the GPU we run on (registers, shared memory, stack frame, spills).
{
    echo "# ptx/resources.txt: ptxas -arch=$PTXAS_ARCH -v per kernel, written by ptx/build.sh; keep spills at zero."
    printf '%-34s %5s %7s %6s %12s %12s\n' kernel regs smem_B stack_B spill_st_B spill_ld_B
    for cu in "${sources[@]}"; do
        p="$out/${cu%.cu}.ptx"
        ptxas -arch=$PTXAS_ARCH -v "$p" -o /dev/null 2>&1 | awk '
            /Compiling entry function/ { split($0, q, "\047"); name = q[2]; }
            /bytes stack frame/ { stack = $1; spst = $5; spld = $9; }
            /Used [0-9]+ registers/ {
                regs = 0; smem = 0;
                for (i = 1; i <= NF; i++) {
                    if ($i == "Used") regs = $(i+1) + 0;
                    if ($i == "smem" || $i == "smem,") smem = $(i-2) + 0;
                }
                printf "%-34s %5d %7d %6d %12d %12d\n", name, regs, smem, stack, spst, spld;
            }'
    done
} > "$out/resources.txt"

spills=$(awk 'NR > 2 && ($5 > 0 || $6 > 0) { print $1 }' "$out/resources.txt")
if [[ -n "$spills" ]]; then
    echo "build.sh: register spills in: $spills" >&2
    exit 1
fi

if (( check )); then
    status=0
    for f in manifest resources.txt "${sources[@]/%.cu/.ptx}"; do
        if ! cmp -s "$out/$f" "$here/$f"; then echo "build.sh --check: ptx/$f is stale" >&2; status=1; fi
    done
    exit $status
fi
echo "built ${#sources[@]} families into $out: $(ls "$out"/*.ptx | wc -l) .ptx files"
