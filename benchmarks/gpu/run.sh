#!/usr/bin/env bash
# benchmarks/gpu/run.sh — the device check, on a machine with an NVIDIA GPU.
#
#   1. builds the core and the CUDA kernels with CMake for this GPU only
#      (no Node.js, no network: CUDA toolkit, CMake, a C++ compiler);
#   2. runs every kernel parity test (cuda/tests/test_*.cpp, the same tests CI runs
#      under the emulator) on the real device against the CPU kernels;
#   3. times each kernel (benchmarks/gpu/bench_kernels.cpp: CUDA events, warm-up,
#      median) and, with python3 + PyTorch, the vendor library on the same shapes
#      (benchmarks/gpu/compare.py: cuBLAS, cuDNN, SDPA), and prints one table.
#
# Usage: bash benchmarks/gpu/run.sh [--quick]      (about 3-5 minutes on an H200)
# Env:   BUILD (default build-gpu), JOBS (default: all cores), CUDA_ARCH (default:
#        the GPU's compute capability from nvidia-smi, e.g. 90).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build-gpu}"
JOBS="${JOBS:-$(nproc)}"
QUICK="${1:-}"
T0=$(date +%s)
say() { echo "[$(( $(date +%s) - T0 ))s] $*"; }

command -v nvcc >/dev/null || { echo "run.sh: nvcc not found (install the CUDA toolkit or add it to PATH)"; exit 1; }
ARCH="${CUDA_ARCH:-}"
if [ -z "$ARCH" ] && command -v nvidia-smi >/dev/null; then
  ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
fi
[ -n "$ARCH" ] || { echo "run.sh: no GPU found (nvidia-smi); set CUDA_ARCH to build anyway"; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /'
nvcc --version | tail -1

say "configure (sm_$ARCH)"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTESSERA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
  -DTESSERA_NATIVE_TESTS=OFF > "$BUILD.configure.log" 2>&1 || { cat "$BUILD.configure.log"; exit 1; }
say "build"
cmake --build "$BUILD" --target gpu_checks -j "$JOBS" > "$BUILD.build.log" 2>&1 || { tail -50 "$BUILD.build.log"; exit 1; }

say "parity tests on the device"
FAILED=0
for t in "$BUILD"/cuda_device_test_*; do
  name=$(basename "$t")
  if out=$("$t" 2>&1); then
    echo "  ok   ${name#cuda_device_test_}: $(echo "$out" | tail -1)"
  else
    FAILED=1
    echo "  FAIL ${name#cuda_device_test_}"
    echo "$out" | grep -E "FAIL|error|CHECK" | head -10 | sed 's/^/       /'
  fi
done

say "kernel timings"
"$BUILD/bench_kernels" $QUICK > "$BUILD/ours.jsonl" || { echo "bench_kernels failed"; FAILED=1; }
if command -v python3 >/dev/null; then
  python3 "$ROOT/benchmarks/gpu/compare.py" "$BUILD/ours.jsonl" $QUICK
else
  cat "$BUILD/ours.jsonl"
fi
say "done"
exit $FAILED
