#!/usr/bin/env bash
# Builds the GPU check bundle: the CUDA test project and the `ttt` command, each published self-contained for
# linux-x64 (the GPU machine has no dotnet) and trimmed (TrimMode=partial: only the framework is trimmed; xunit,
# FsCheck, ScottPlot and Ttt keep their reflection; their trim-analysis warnings are therefore suppressed for this
# publish; trimming would also switch off reflection-based JSON, which `ttt` uses for configs and run logs, so it is
# switched back on), packed as gpu-bundle/tests.tar.gz and gpu-bundle/ttt.tar.gz, plus gpu-bundle/run.sh that runs
# the tests and then `ttt bench --device cuda` there.
#
#   scripts/gpu-check.sh            build gpu-bundle/ (git-ignored), check its size (< 60 MiB), and run the
#                                   packed test executable here once (GPU tests must show as skipped)
#   scripts/gpu-check.sh --no-run   only build
#
# On the GPU machine: bash gpu-bundle/run.sh   (logs and results go to $OUT, default ./gpu-out)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bundle="$root/gpu-bundle"
limit=$((60 * 1024 * 1024))
run_here=1
[[ "${1:-}" == "--no-run" ]] && run_here=0

rm -rf "$bundle"
mkdir -p "$bundle"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

dotnet publish tests/Cuda.Tests/Ttt.Cuda.Tests.csproj -c Release -r linux-x64 --self-contained \
    -p:PublishTrimmed=true -p:TrimMode=partial -p:SatelliteResourceLanguages=en -p:InvariantGlobalization=true \
    -p:DebugType=none -p:SuppressTrimAnalysisWarnings=true \
    -o "$stage/tests" -v quiet -nologo
tar -C "$stage" -czf "$bundle/tests.tar.gz" tests
dotnet publish src/Cli/Ttt.Cli.csproj -c Release -r linux-x64 --self-contained \
    -p:PublishTrimmed=true -p:TrimMode=partial -p:SatelliteResourceLanguages=en -p:InvariantGlobalization=true \
    -p:DebugType=none -p:SuppressTrimAnalysisWarnings=true -p:PackAsTool=false \
    -p:JsonSerializerIsReflectionEnabledByDefault=true \
    -o "$stage/ttt" -v quiet -nologo
tar -C "$stage" -czf "$bundle/ttt.tar.gz" ttt
unpacked=$(du -sbc "$stage/tests" "$stage/ttt" | tail -n 1 | cut -f1)

cat > "$bundle/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs Ttt's CUDA checks on the GPU machine (no dotnet needed: the tests are self-contained).
# Writes under $OUT (default ./gpu-out): machine.txt, tests.log, tests.xml, bench.log, bench.json, summary.txt.
# BENCH_ARGS (default --quick) are passed to `ttt bench --device cuda`; BENCH_TIMEOUT (default 300 s) bounds it.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

{
    echo "== nvidia-smi"; nvidia-smi 2>&1 || echo "(nvidia-smi failed)"
    echo "== ldd --version"; ldd --version 2>&1 | head -n 1
    echo "== cuBLAS sonames found"
    ldconfig -p 2>/dev/null | grep -E 'libcublas(Lt)?\.so' || echo "(none in the loader cache)"
    ls -1 /usr/local/cuda*/lib64/libcublas.so* /usr/local/cuda*/targets/x86_64-linux/lib/libcublas.so* 2>/dev/null || true
    python3 - <<'PY' 2>/dev/null || true
import glob, site, os
for d in site.getsitepackages():
    for f in sorted(glob.glob(os.path.join(d, "nvidia", "cu*", "lib", "libcublas.so*")) + sorted(glob.glob(os.path.join(d, "nvidia", "cublas", "lib", "libcublas.so*")))):
        print(f)
PY
    echo "== libcuda"; ldconfig -p 2>/dev/null | grep 'libcuda\.so' || echo "(not in the loader cache)"
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

# cuBLAS outside the places the resolver probes (the loader path, /usr/local/cuda/lib64, /usr/lib/x86_64-linux-gnu):
# point TTT_CUDA_LIB_DIR at the first folder that has one, e.g. a Python wheel's nvidia/cublas/lib.
if [[ -z "${TTT_CUDA_LIB_DIR:-}" ]] && ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so' && ! ls /usr/local/cuda/lib64/libcublas.so* >/dev/null 2>&1; then
    dir="$(dirname "$(grep -m1 -E '/libcublas\.so(\.[0-9]+)*$' "$OUT/machine.txt" | awk '{print $NF}')" 2>/dev/null || true)"
    if [[ -n "$dir" && -d "$dir" ]]; then export TTT_CUDA_LIB_DIR="$dir"; echo "TTT_CUDA_LIB_DIR=$dir"; fi
fi

tar -C "$work" -xzf "$here/tests.tar.gz"
echo "== CUDA tests"
( cd "$work/tests" && timeout 500 ./Ttt.Cuda.Tests -noColor -xml "$OUT/tests.xml" ) > "$OUT/tests.log" 2>&1
status=$?
grep -vE '^Ok, passed [0-9]+ tests\.$' "$OUT/tests.log" | tail -n 60
line=$(grep -E 'Total: [0-9]+, Errors: [0-9]+, Failed: [0-9]+, Skipped: [0-9]+' "$OUT/tests.log" | tail -n 1)
summary=$(echo "$line" | awk -F'[:,]' '{ total=$2+0; errors=$4+0; failed=$6+0; skipped=$8+0; notrun=$10+0;
    printf "%d passed, %d failed, %d skipped", total-failed-skipped-notrun, failed+errors, skipped }')
[[ -z "$line" ]] && summary="0 passed, 1 failed, 0 skipped (the test run did not finish; exit code $status)"

# ---- ttt bench --device cuda, after the tests (its table and rows go to $OUT).
tar -C "$work" -xzf "$here/ttt.tar.gz"
echo "== ttt bench --device cuda ${BENCH_ARGS:---quick}"
# shellcheck disable=SC2086 # BENCH_ARGS is a list of words
( cd "$work/ttt" && timeout "${BENCH_TIMEOUT:-300}" ./ttt bench --device cuda ${BENCH_ARGS:---quick} --json "$OUT/bench.json" ) > "$OUT/bench.log" 2>&1
bench=$?
tail -n 40 "$OUT/bench.log"
bench_line="ttt bench --device cuda: exit $bench$( (( bench != 0 )) && echo ' (see bench.log)')"

printf '%s\n%s\n' "$summary" "$bench_line" > "$OUT/summary.txt"
echo "== summary"
cat "$OUT/summary.txt"
(( status == 0 )) && status=$bench
exit $status
RUN
chmod +x "$bundle/run.sh"

size=$(du -sb "$bundle" | awk '{print $1}')
echo "gpu-bundle: $(ls -1 "$bundle" | tr '\n' ' ')— $((size / 1024 / 1024)) MiB packed ($((unpacked / 1024 / 1024)) MiB unpacked)"
if (( size >= limit )); then
    echo "gpu-check.sh: the bundle is $size bytes, over the 60 MiB limit" >&2
    exit 1
fi

if (( run_here )); then
    # Here there is no GPU: the packed executable must run and report every GPU test as skipped.
    # The packed `ttt` must start and refuse --device cuda with its one-line reason.
    here_out="$stage/here-out"
    OUT="$here_out" bash "$bundle/run.sh" > "$stage/here.log" 2>&1 || true
    tail -n 4 "$stage/here.log"
    grep -qE '^[0-9]+ passed, 0 failed, [1-9][0-9]* skipped$' "$stage/here.log" || { echo "gpu-check.sh: unexpected result of the bundle here" >&2; cat "$stage/here.log" >&2; exit 1; }
    grep -q 'CUDA is not available' "$here_out/bench.log" || { echo "gpu-check.sh: the packed ttt did not run as expected here" >&2; cat "$here_out/bench.log" >&2; exit 1; }
fi
