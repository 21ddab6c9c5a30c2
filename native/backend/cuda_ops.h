// The CUDA side of the op table. Each op family writes one forward / backward
// body per op taking the device (set_forward / set_backward in core/op.h) and
// branches only at the kernel call, where the CUDA branch calls the loaded
// backend's table (cuda_api.h) through TS_CUDA:
//
//   if (dev == Device::CUDA) TS_CUDA("softmax", softmax_forward, data_f32(x), data_f32(y), rows, cols);
//   else cpu::softmax_forward(x.f32(), y.f32(), rows, cols);
//
// The backend's stream is appended as the last argument; a failure becomes
// ERR_TESSERA_BACKEND (or ERR_TESSERA_OUT_OF_MEMORY) naming the op and carrying
// CUDA's message.
#pragma once
#include "backend/cuda_backend.h"
#include "core/op.h"

#define TS_CUDA(op, entry, ...)                                                                        \
  ::tessera::cuda_backend::check(                                                                      \
      ::tessera::cuda_backend::api().entry(__VA_ARGS__, ::tessera::cuda_backend::stream()), op)
