// Error checks for CUDA calls and launches in the kernel files: every launch is
// followed by TESSERA_CUDA_CHECK_LAUNCH(), which turns a failed launch into an
// exception carrying CUDA's own message (the binding hands it to JS).
#pragma once
#include <stdexcept>
#include <string>

#include "launch.h"

#define TESSERA_CUDA_CHECK(call)                                                                     \
  do {                                                                                               \
    cudaError_t err_ = (call);                                                                       \
    if (err_ != cudaSuccess)                                                                         \
      throw std::runtime_error(std::string(#call " failed: ") + cudaGetErrorString(err_));          \
  } while (0)

#define TESSERA_CUDA_CHECK_LAUNCH()                                                                  \
  do {                                                                                               \
    cudaError_t err_ = cudaGetLastError();                                                           \
    if (err_ != cudaSuccess)                                                                         \
      throw std::runtime_error(std::string("CUDA launch failed: ") + cudaGetErrorString(err_));     \
  } while (0)
