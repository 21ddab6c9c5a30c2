#include "backend/cuda_backend.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "backend/cuda_allocator.h"
#include "core/error.h"

namespace tessera {
namespace cuda_backend {

namespace {

std::mutex g_mu;
Status g_status;
const TesseraCudaApi* g_api = nullptr;
void* g_stream = nullptr;

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Classifies a failed cudaGetDeviceCount: 35 insufficient driver, 34 stub library,
// 100 no device; anything else is reported as "no driver" with CUDA's message.
const char* reason_for(int cuda_error) {
  if (cuda_error == 100) return "no device";
  return "no driver";
}

// Tries one library; returns true when it is usable. Fills g_status either way.
bool try_library(const std::string& path) {
  g_status.library = path;
  if (!file_exists(path)) {
    g_status.reason = "no library";
    g_status.detail = path + " does not exist";
    return false;
  }
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    g_status.reason = "no library";
    const char* e = ::dlerror();
    g_status.detail = std::string("dlopen failed: ") + (e ? e : "unknown error");
    return false;
  }
  auto fn = reinterpret_cast<TesseraCudaApiFn>(::dlsym(handle, "tessera_cuda_api"));
  if (!fn) {
    g_status.reason = "no library";
    g_status.detail = path + " has no tessera_cuda_api symbol (not a tessera CUDA backend)";
    ::dlclose(handle);
    return false;
  }
  const TesseraCudaApi* api = fn();
  if (!api || api->version != TESSERA_CUDA_API_VERSION) {
    g_status.reason = "no library";
    g_status.detail = path + " is built for CUDA backend ABI version " + std::to_string(api ? api->version : -1) +
                      ", this tessera needs " + std::to_string(TESSERA_CUDA_API_VERSION) +
                      " (rebuild it with npm run build:cuda)";
    ::dlclose(handle);
    return false;
  }
  // Every entry must be filled: a library built from mismatched sources would
  // otherwise crash on its first call to a missing kernel.
  {
    const size_t first = offsetof(TesseraCudaApi, device_count);
    const size_t n = (sizeof(TesseraCudaApi) - first) / sizeof(void*);
    const char* base = reinterpret_cast<const char*>(api) + first;
    for (size_t i = 0; i < n; ++i) {
      void* entry = nullptr;
      std::memcpy(&entry, base + i * sizeof(void*), sizeof(void*));
      if (!entry) {
        g_status.reason = "no library";
        g_status.detail = path + ": entry " + std::to_string(i) + " of its function table is empty (an incomplete "
                          "build; rebuild it with npm run build:cuda)";
        return false;
      }
    }
  }
  int count = 0, cuda_error = 0;
  if (TsCudaStatus err = api->device_count(&count, &cuda_error)) {
    g_status.reason = reason_for(cuda_error);
    g_status.detail = err;
    return false;  // keep the library mapped: cudart may hold state; harmless
  }
  if (count <= 0) {
    g_status.reason = "no device";
    g_status.detail = "the CUDA driver reports no devices";
    return false;
  }
  std::vector<DeviceInfo> devices;
  for (int d = 0; d < count; ++d) {
    DeviceInfo info;
    char name[256] = {0};
    if (TsCudaStatus err = api->device_info(d, name, sizeof(name), &info.total_memory, &info.cc_major,
                                            &info.cc_minor, &info.multiprocessors)) {
      g_status.reason = "no device";
      g_status.detail = err;
      return false;
    }
    info.name = name;
    devices.push_back(info);
  }
  if (TsCudaStatus err = api->set_device(0)) {
    g_status.reason = "no device";
    g_status.detail = err;
    return false;
  }
  void* stream = nullptr;
  if (TsCudaStatus err = api->stream_create(&stream)) {
    g_status.reason = "no device";
    g_status.detail = err;
    return false;
  }
  g_api = api;
  g_stream = stream;
  g_status.available = true;
  g_status.reason.clear();
  g_status.detail.clear();
  g_status.emulated = api->emulated != 0;
  g_status.devices = std::move(devices);
  return true;
}

}  // namespace

const Status& load(const std::vector<std::string>& candidates, bool force) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_status.loaded_attempted && (g_status.available || !force)) return g_status;
  g_status = Status();
  g_status.loaded_attempted = true;
  const char* env = std::getenv("TESSERA_CUDA");
  if (env && (std::strcmp(env, "0") == 0 || std::strcmp(env, "off") == 0)) {
    g_status.reason = "disabled";
    g_status.detail = "TESSERA_CUDA=" + std::string(env) + " in the environment";
    return g_status;
  }
  if (candidates.empty()) {
    g_status.reason = "no library";
    g_status.detail = "no CUDA backend library was built for this installation (npm run build:cuda builds one where nvcc exists)";
    return g_status;
  }
  // The first usable library wins. Otherwise report the most telling failure: a
  // library that loaded but found no driver or device, over one that would not
  // load, over a path that does not exist.
  auto rank = [](const Status& st) {
    if (st.reason != "no library") return 2;
    return st.detail.find("does not exist") == std::string::npos ? 1 : 0;
  };
  std::string tried;
  Status best;
  int best_rank = -1;
  for (const std::string& path : candidates) {
    if (try_library(path)) return g_status;
    if (rank(g_status) > best_rank) {
      best = g_status;
      best_rank = rank(g_status);
    }
    tried += (tried.empty() ? "" : ", ") + path;
    g_status = Status();
    g_status.loaded_attempted = true;
  }
  g_status = best;
  g_status.loaded_attempted = true;
  if (best_rank == 0)
    g_status.detail = "no CUDA backend library found (tried " + tried + "); npm run build:cuda builds one where nvcc exists";
  return g_status;
}

const Status& status() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_status;
}

bool available() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_status.available;
}

const TesseraCudaApi& api() {
  const TesseraCudaApi* a;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    a = g_api;
    if (!a) {
      if (!g_status.loaded_attempted)
        fail(ErrorCode::Backend, "CUDA is not loaded: call backends() or pick device 'cuda' first");
      fail(ErrorCode::Backend, "CUDA is not available (", g_status.reason, "): ", g_status.detail);
    }
  }
  return *a;
}

void* stream() {
  api();
  return g_stream;
}

void check(TsCudaStatus err, const char* what) {
  if (!err) return;
  if (std::strstr(err, "out of memory")) fail(ErrorCode::OutOfMemory, what, ": CUDA: ", err);
  fail(ErrorCode::Backend, what, ": CUDA: ", err);
}

void synchronize() { check(api().stream_synchronize(stream()), "synchronize"); }

Tensor to_device(const Tensor& t, Device device) {
  TS_CHECK(t.defined(), ErrorCode::Internal, "to_device of an undefined tensor");
  if (t.device() == device) return t;
  if (device == Device::CUDA) {
    Tensor c = t.contiguous();
    Tensor out = Tensor::empty(c.shape(), c.dtype(), Device::CUDA);
    if (c.nbytes()) check(api().memcpy_h2d(out.raw_data(), c.raw_data(), c.nbytes(), stream()), "copy to the GPU");
    return out;
  }
  TS_CHECK(t.is_contiguous(), ErrorCode::Internal, "to_device: device tensor views are copied on the device first");
  Tensor out = Tensor::empty(t.shape(), t.dtype(), Device::CPU);
  if (t.nbytes()) check(api().memcpy_d2h(out.raw_data(), t.raw_data(), t.nbytes(), stream()), "copy from the GPU");
  return out;
}

}  // namespace cuda_backend
}  // namespace tessera
