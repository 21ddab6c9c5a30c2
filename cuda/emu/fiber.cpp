// cuda/emu/fiber.cpp — context switch (x86-64 assembly) and guarded fiber stacks.
// See fiber.h for the design; the frame layout below must match the asm exactly:
//
//   sp + 0   MXCSR (4 bytes) | x87 control word (2 bytes) | pad
//   sp + 8   r15
//   sp + 16  r14
//   sp + 24  r13   (new fiber: fn)
//   sp + 32  r12   (new fiber: arg)
//   sp + 40  rbx
//   sp + 48  rbp
//   sp + 56  return address (new fiber: tessera_emu_fiber_start)
//   sp + 64  = 16-byte aligned top, so `call *%r13` in the start trampoline sees the
//              ABI's alignment (rsp % 16 == 0 before the call).
#include "fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>

asm(R"(
    .text
    .globl  tessera_emu_swap
    .hidden tessera_emu_swap
    .type   tessera_emu_swap, @function
    .p2align 4
tessera_emu_swap:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   tessera_emu_swap, .-tessera_emu_swap

    .globl  tessera_emu_fiber_start
    .hidden tessera_emu_fiber_start
    .type   tessera_emu_fiber_start, @function
    .p2align 4
tessera_emu_fiber_start:
    .cfi_startproc
    .cfi_undefined rip
    xorl    %ebp, %ebp
    movq    %r12, %rdi
    callq   *%r13
    ud2
    .cfi_endproc
    .size   tessera_emu_fiber_start, .-tessera_emu_fiber_start
)");

extern "C" void tessera_emu_fiber_start();

namespace tessera_emu {

Stack stack_alloc(size_t usable) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  usable = (usable + page - 1) & ~(page - 1);
  Stack s;
  s.map_size = usable + page;
  void* m = mmap(nullptr, s.map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                 -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  s.map = static_cast<char*>(m);
  if (mprotect(s.map, page, PROT_NONE) != 0) {  // guard page: stack grows down into it
    munmap(m, s.map_size);
    throw std::bad_alloc();
  }
  s.lo = s.map + page;
  s.hi = s.map + s.map_size;
  return s;
}

void stack_free(Stack& s) {
  if (s.map) munmap(s.map, s.map_size);
  s = Stack{};
}

void* stack_prime(const Stack& s, void (*fn)(void*), void* arg) {
  uintptr_t top = reinterpret_cast<uintptr_t>(s.hi) & ~uintptr_t(15);
  uint64_t* f = reinterpret_cast<uint64_t*>(top - 64);
  f[0] = 0x1F80ull | (0x037Full << 32);  // default MXCSR, default x87 control word
  f[1] = 0;                               // r15
  f[2] = 0;                               // r14
  f[3] = reinterpret_cast<uint64_t>(fn);  // r13
  f[4] = reinterpret_cast<uint64_t>(arg); // r12
  f[5] = 0;                               // rbx
  f[6] = 0;                               // rbp
  f[7] = reinterpret_cast<uint64_t>(&tessera_emu_fiber_start);
  return f;
}

}  // namespace tessera_emu
