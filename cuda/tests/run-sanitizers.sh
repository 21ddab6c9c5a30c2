#!/usr/bin/env bash
# cuda/tests/run-sanitizers.sh CORE_LIB — the CUDA kernel parity tests
# (cuda/tests/test_<family>.cpp with cuda/<family>.cu) under the emulator in a
# ThreadSanitizer build (fiber switches and barriers announced to TSan, so a
# missing barrier or a non-atomic shared-memory update is a reported race) and an
# AddressSanitizer build (out-of-bounds global and shared-memory accesses).
# CORE_LIB is libtessera_core.a from a CMake build (build-cmake/); the CPU
# reference code stays uninstrumented, the kernels and tests are instrumented.
# TESSERA_SAN_ONLY=family[,family...] limits the run to those kernel families.
# Prints one line per test and build, then "N passed, N failed"; exits non-zero on any failure.
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CORE_LIB="${1:?usage: run-sanitizers.sh path/to/libtessera_core.a}"
OUT="${TESSERA_SAN_BUILD:-$ROOT/build-cuda-san}"
CXX="${CXX:-g++}"
CUDA_INC=""
for d in "${CUDA_HOME:-}/include" /usr/local/cuda/include /usr/include; do
  if [ -f "$d/cuda_fp16.h" ]; then CUDA_INC="$d"; break; fi
done
[ -n "$CUDA_INC" ] || { echo "run-sanitizers: cuda_fp16.h not found (set CUDA_HOME)"; exit 1; }
common="-std=gnu++17 -g -I$ROOT/native -I$ROOT/cuda -I$CUDA_INC -Wno-unknown-pragmas"
passed=0 failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

# san NAME KERNEL_FLAGS RUNTIME_FLAGS LINK_FLAGS ENV...
san() {
  local name=$1 kflags=$2 rflags=$3 lflags=$4; shift 4
  local dir="$OUT/$name"
  mkdir -p "$dir"
  # shellcheck disable=SC2086
  $CXX $common $rflags -c "$ROOT/cuda/emu/runtime.cpp" -o "$dir/runtime.o" &&
    $CXX $common $rflags -c "$ROOT/cuda/emu/fiber.cpp" -o "$dir/fiber.o" || { bad "$name runtime build"; return; }
  for test in "$ROOT"/cuda/tests/test_*.cpp; do
    local fam; fam=$(basename "$test" .cpp); fam=${fam#test_}
    if [ -n "${TESSERA_SAN_ONLY:-}" ] && [[ ",$TESSERA_SAN_ONLY," != *",$fam,"* ]]; then continue; fi
    local bin="$dir/test_$fam" log="$dir/test_$fam.log"
    # shellcheck disable=SC2086
    if ! { $CXX $common $kflags -x c++ -c "$ROOT/cuda/$fam.cu" -o "$dir/$fam.o" &&
           $CXX $common $kflags -c "$test" -o "$dir/test_$fam.o" &&
           $CXX "$dir/test_$fam.o" "$dir/$fam.o" "$dir/runtime.o" "$dir/fiber.o" "$CORE_LIB" $lflags -pthread -ldl -o "$bin"; } > "$log" 2>&1; then
      bad "$name $fam (build, see $log)"; continue
    fi
    if env "$@" "$bin" > "$log" 2>&1 && ! grep -q "Sanitizer" "$log" && grep -q " 0 failed" "$log"; then
      ok "$name $fam"
    else
      bad "$name $fam (see $log)"; grep -E "FAIL|Sanitizer|SUMMARY" "$log" | head -5
    fi
  done
}

san tsan "-O1 -fsanitize=thread" "-O2 -DTESSERA_EMU_TSAN=1" "-fsanitize=thread" \
  TSAN_OPTIONS=halt_on_error=0:exitcode=66:report_signal_unsafe=0 TESSERA_EMU_THREADS=2 TESSERA_EMU_ORDER=random TESSERA_EMU_SEED=3 TESSERA_THREADS=1
san asan "-O1 -fsanitize=address -fno-omit-frame-pointer" "-O1 -fsanitize=address -fno-omit-frame-pointer" "-fsanitize=address" \
  ASAN_OPTIONS=detect_leaks=0 TESSERA_EMU_ORDER=random TESSERA_EMU_SEED=5
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
