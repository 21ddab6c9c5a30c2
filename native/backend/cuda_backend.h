// The CUDA backend as the core sees it: a library (libtessera_cuda.so) loaded at
// run time with dlopen, only when asked for, and only used when it finds a device.
//
//   load(candidates)  tries each path in order; the first that opens, has the
//                     tessera_cuda_api symbol with our ABI version and sees at least
//                     one device becomes the backend. Otherwise status() says why:
//                       "disabled"   TESSERA_CUDA=0 in the environment
//                       "no library" no candidate exists or opens (dlopen's message)
//                       "no driver"  the library loaded but the CUDA driver is missing
//                                    or too old (cudaErrorInsufficientDriver / NoDevice
//                                    from a missing libcuda)
//                       "no device"  a driver, but no CUDA device
//   api()             the function table (native/backend/cuda_api.h); throws
//                     ERR_TESSERA_BACKEND with the reason when CUDA is off.
//   check(err, what)  a non-null status from the table -> tessera::Error(Backend)
//                     carrying CUDA's message; an allocation failure -> OutOfMemory.
//
// All work goes to one non-blocking stream (stream()); copies to the host wait
// for it, so results handed back are complete. Device memory comes from the
// caching allocator (cuda_allocator.h).
#pragma once
#include <string>
#include <vector>

#include "backend/cuda_api.h"
#include "core/tensor.h"

namespace tessera {
namespace cuda_backend {

struct DeviceInfo {
  std::string name;
  size_t total_memory = 0;
  int cc_major = 0, cc_minor = 0;
  int multiprocessors = 0;
};

struct Status {
  bool loaded_attempted = false;
  bool available = false;
  std::string reason;   // "", "disabled", "no library", "no driver", "no device"
  std::string detail;   // the underlying message (dlopen / CUDA), or the library used
  std::string library;  // path of the library in use (or last tried)
  bool emulated = false;
  std::vector<DeviceInfo> devices;
};

// Tries the candidate library paths once (later calls return the first result,
// unless `force` reloads after a failed attempt). Thread-safe.
const Status& load(const std::vector<std::string>& candidates, bool force = false);
const Status& status();
bool available();

const TesseraCudaApi& api();
void* stream();
void check(TsCudaStatus err, const char* what);

// Copies between devices: to(CUDA) allocates device memory and uploads; to(CPU)
// downloads (waiting for the stream). Contiguous f32 tensors only for the device side.
Tensor to_device(const Tensor& t, Device device);
void synchronize();

}  // namespace cuda_backend
}  // namespace tessera
