#!/usr/bin/env bash
# cuda/emu/run-tests.sh — build and run the CUDA emulator's own tests (cuda/emu/) in
# every mode:
#   plain build (-O2)   correct kernels under inorder, reverse and random schedules;
#                       the missing-barrier bug must give a wrong result under some
#                       schedule; deadlock / collective misuse must be reported; a
#                       runaway recursion must fault on the fiber stack's guard page;
#                       switch-rate benchmark
#   TSan build          correct kernels clean; missing barrier and shared `+=` race
#                       must each produce a ThreadSanitizer data-race report
#   ASan build          correct kernels clean; global and shared out-of-bounds stores
#                       must each produce an AddressSanitizer report
#   nvcc -c             the test kernels are valid CUDA (skipped if nvcc is absent)
# Planted bugs are expected to fail; the script exits non-zero only if a correct
# kernel fails or a planted bug goes unnoticed.
#
# Env: CXX (default g++), NVCC (default nvcc), TESSERA_EMU_BUILD (default build-emu),
#      EMU_JOBS (parallel compiles, default 2).
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
EMU="$ROOT/cuda/emu"
OUT="${TESSERA_EMU_BUILD:-$ROOT/build-emu}"
CXX="${CXX:-g++}"
NVCC="${NVCC:-nvcc}"
JOBS="${EMU_JOBS:-2}"
mkdir -p "$OUT"

# The toolkit headers (cuda_fp16.h, cuda_runtime.h) compile with a host compiler.
CUDA_INC=""
for d in "${CUDA_HOME:-}/include" /usr/local/cuda/include "$(dirname "$(command -v "$NVCC" 2>/dev/null || echo /x/x)")/../include" /usr/include; do
  if [ -f "$d/cuda_fp16.h" ]; then CUDA_INC="$d"; break; fi
done
if [ -z "$CUDA_INC" ]; then echo "emu-test: cuda_fp16.h not found (set CUDA_HOME)"; exit 1; fi

FAIL=0
pass() { echo "  ok   $*"; }
fail() { echo "  FAIL $*"; FAIL=1; }

# build NAME "kernel/driver flags" "runtime flags" "link flags"
build() {
  local name=$1 kflags=$2 rflags=$3 lflags=$4 dir="$OUT/$1"
  mkdir -p "$dir"
  local common="-std=c++17 -g -Wall -Wextra -I$ROOT/cuda -I$CUDA_INC"
  local srcs=("$EMU/fiber.cpp:$rflags" "$EMU/runtime.cpp:$rflags" "$EMU/tests/good.cu:$kflags"
              "$EMU/tests/bugs.cu:$kflags" "$EMU/tests/test_emu.cpp:$kflags")
  local objs=() running=0 status=0
  for entry in "${srcs[@]}"; do
    local src=${entry%%:*} flags=${entry#*:} obj="$dir/$(basename "${entry%%:*}").o"
    objs+=("$obj")
    # shellcheck disable=SC2086
    $CXX $common $flags -x c++ -c "$src" -o "$obj" 2> "$obj.log" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then wait -n || status=1; running=$((running - 1)); fi
  done
  while [ "$running" -gt 0 ]; do wait -n || status=1; running=$((running - 1)); done
  cat "$dir"/*.log
  if [ "$status" -ne 0 ]; then fail "build $name"; return 1; fi
  # shellcheck disable=SC2086
  if ! $CXX "${objs[@]}" $lflags -pthread -o "$dir/test_emu"; then fail "link $name"; return 1; fi
  echo "built $dir/test_emu"
}

# run_good BIN LABEL [env...]: correct kernels must pass and print no sanitizer report
run_good() {
  local bin=$1 label=$2; shift 2
  local log="$OUT/good-$label.log"
  if env "$@" "$bin" good > "$log" 2>&1 && ! grep -q "Sanitizer" "$log"; then
    pass "correct kernels [$label]"
  else
    fail "correct kernels [$label] (see $log)"; grep -E "FAIL|Sanitizer|ERROR" "$log" | head -20
  fi
}

# expect_report BIN LABEL PLANT "pattern1" "pattern2" [env...]: the run must print both patterns
expect_report() {
  local bin=$1 label=$2 plant=$3 p1=$4 p2=$5; shift 5
  local log="$OUT/plant-$plant-$label.log"
  env "$@" "$bin" plant "$plant" > "$log" 2>&1
  if grep -q -- "$p1" "$log" && grep -q -- "$p2" "$log"; then
    pass "planted $plant caught [$label]: $(grep -m1 -o -- "$p1.*" "$log" | cut -c1-90)"
  else
    fail "planted $plant NOT caught [$label] (see $log)"
  fi
}

echo "== plain build"
if build plain "-O2" "-O2" ""; then
  B="$OUT/plain/test_emu"
  run_good "$B" inorder TESSERA_EMU_ORDER=inorder
  run_good "$B" reverse TESSERA_EMU_ORDER=reverse
  for s in 1 2 3; do run_good "$B" "random-$s" TESSERA_EMU_ORDER=random TESSERA_EMU_SEED=$s; done
  run_good "$B" single-thread TESSERA_EMU_THREADS=1 TESSERA_EMU_ORDER=random TESSERA_EMU_SEED=7
  if "$B" orders missing-sync > "$OUT/orders-missing-sync.log" 2>&1; then
    pass "planted missing-sync caught by schedules: $(tail -1 "$OUT/orders-missing-sync.log")"
  else
    fail "planted missing-sync gave the right answer under every schedule"; cat "$OUT/orders-missing-sync.log"
  fi
  { "$B" plant stack-overflow > "$OUT/plant-stack-overflow.log" 2>&1; } 2> /dev/null; rc=$?
  if [ "$rc" -eq 139 ] || [ "$rc" -eq 135 ]; then pass "planted stack-overflow faults on the guard page (rc=$rc)"
  else fail "planted stack-overflow: expected SIGSEGV, rc=$rc"; fi
  "$B" bench | sed 's/^/  /'
fi

echo "== ThreadSanitizer build"
# The runtime is compiled without -fsanitize=thread (its bookkeeping is shared by a
# block's fibers by design) but announces fibers and barriers to TSan.
if build tsan "-O1 -fsanitize=thread" "-O2 -DTESSERA_EMU_TSAN=1" "-fsanitize=thread"; then
  B="$OUT/tsan/test_emu"
  TS="TSAN_OPTIONS=halt_on_error=0:exitcode=66:report_signal_unsafe=0"
  run_good "$B" tsan-inorder "$TS" TESSERA_EMU_ORDER=inorder TESSERA_EMU_THREADS=2
  run_good "$B" tsan-random "$TS" TESSERA_EMU_ORDER=random TESSERA_EMU_SEED=3 TESSERA_EMU_THREADS=2
  expect_report "$B" tsan missing-sync "ThreadSanitizer: data race" "reduce_missing_sync_kernel" "$TS" TESSERA_EMU_THREADS=2
  expect_report "$B" tsan plus-equals "ThreadSanitizer: data race" "histogram_plus_equals_kernel" "$TS" TESSERA_EMU_THREADS=2
fi

echo "== AddressSanitizer build"
if build asan "-O1 -fsanitize=address -fno-omit-frame-pointer" "-O1 -fsanitize=address -fno-omit-frame-pointer" "-fsanitize=address"; then
  B="$OUT/asan/test_emu"
  AS="ASAN_OPTIONS=detect_leaks=0"
  run_good "$B" asan-inorder "$AS" TESSERA_EMU_ORDER=inorder
  run_good "$B" asan-random "$AS" TESSERA_EMU_ORDER=random TESSERA_EMU_SEED=5
  expect_report "$B" asan oob-global "heap-buffer-overflow" "oob_global_kernel" "$AS"
  expect_report "$B" asan oob-shared "use-after-poison" "oob_shared_kernel" "$AS"
fi

echo "== nvcc (compile only)"
if command -v "$NVCC" > /dev/null 2>&1; then
  for f in good bugs; do
    if "$NVCC" -c -std=c++17 -arch=sm_80 -I"$ROOT/cuda" "$EMU/tests/$f.cu" -o "$OUT/$f.nvcc.o" > "$OUT/nvcc-$f.log" 2>&1; then
      pass "nvcc -arch=sm_80 tests/$f.cu"
    else
      fail "nvcc tests/$f.cu (see $OUT/nvcc-$f.log)"; head -20 "$OUT/nvcc-$f.log"
    fi
  done
else
  echo "  skip nvcc not found"
fi

if [ "$FAIL" -ne 0 ]; then echo "emu-test: FAILED"; exit 1; fi
echo "emu-test: all checks passed"
