// cuda/emu/fiber.h — the emulator's context switch and fiber stacks (internal).
//
// A fiber is a saved stack pointer. tessera_emu_swap(&from_sp, to_sp) pushes the
// callee-saved registers of the System V x86-64 ABI (rbp, rbx, r12-r15) plus the
// MXCSR and x87 control words on the current stack, stores rsp into *from_sp, loads
// to_sp and pops the same frame from there: ~20 instructions, no syscall (glibc's
// swapcontext saves the signal mask with a syscall on every switch, >10x slower).
// Everything else (caller-saved registers, flags) is already dead across the call.
//
// A new fiber's stack is primed with that frame so the first swap into it "returns"
// into tessera_emu_fiber_start, which calls fn(arg) with r13 = fn, r12 = arg.
// fn must never return (a fiber ends by swapping away for good).
//
// Stacks are mmap'ed with one PROT_NONE guard page below them, so an overflow
// faults (SIGSEGV) instead of silently running into another fiber's stack. They
// are pooled per OS thread by the runtime and reused for block after block.
#pragma once
#include <cstddef>

extern "C" void tessera_emu_swap(void** save_sp, void* load_sp);

namespace tessera_emu {

struct Stack {
  char* map = nullptr;    // mapping start (the guard page)
  size_t map_size = 0;
  char* lo = nullptr;     // usable stack [lo, hi)
  char* hi = nullptr;
};

Stack stack_alloc(size_t usable_bytes);  // throws std::bad_alloc on failure
void stack_free(Stack& s);
// Prime `s` so that the first tessera_emu_swap to the returned sp calls fn(arg).
void* stack_prime(const Stack& s, void (*fn)(void*), void* arg);

}  // namespace tessera_emu
