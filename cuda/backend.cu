// cuda/backend.cu — the table the core loads from libtessera_cuda.so
// (native/backend/cuda_api.h): CUDA runtime calls and every kernel launcher,
// each wrapped so that no C++ exception crosses the library boundary. A failing
// call returns CUDA's message (thread-local, valid until the next call).
//
// Built by nvcc into libtessera_cuda.so (cudart static) and, for CI, by g++
// against cuda/emu into libtessera_cuda_emu.so (emulated = 1).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "backend/cuda_api.h"
#include "attention.h"
#include "binary.h"
#include "check.h"
#include "conv3d.h"
#include "copy.h"
#include "elementwise.h"
#include "gemm.h"
#include "loss.h"
#include "norm.h"
#include "optim.h"
#include "random.h"
#include "reduce.h"
#include "resample.h"
#include "rope.h"
#include "softmax.h"

namespace {

namespace cu = tessera::cuda;

thread_local std::string g_error;

TsCudaStatus fail(const std::string& message) {
  g_error = message;
  return g_error.c_str();
}

// Runs body; a thrown exception becomes the returned message.
template <class F>
TsCudaStatus guard(F&& body) {
  try {
    body();
    return nullptr;
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (...) {
    return fail("unknown error in the CUDA backend");
  }
}

TsCudaStatus check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return nullptr;
  return fail(std::string(what) + ": " + cudaGetErrorString(err));
}

cudaStream_t S(void* s) { return static_cast<cudaStream_t>(s); }
const __nv_bfloat16* BF(const void* p) { return static_cast<const __nv_bfloat16*>(p); }
cu::Conv3dShape CS(const TsConv3dShape* d) {
  cu::Conv3dShape s;
  s.N = d->N, s.Cin = d->Cin, s.D = d->D, s.H = d->H, s.W = d->W;
  s.Cout = d->Cout, s.kD = d->kD, s.kH = d->kH, s.kW = d->kW;
  s.sD = d->sD, s.sH = d->sH, s.sW = d->sW;
  s.pF = d->pF, s.pB = d->pB, s.pH = d->pH, s.pW = d->pW;
  s.Do = d->Do, s.Ho = d->Ho, s.Wo = d->Wo;
  return s;
}

cu::BinaryOp BO(int32_t op) { return op == 0 ? cu::BinaryOp::Add : op == 1 ? cu::BinaryOp::Sub : cu::BinaryOp::Mul; }

cu::AttentionShape AS(const TsAttentionShape* d) {
  cu::AttentionShape s;
  s.batch = d->batch;
  s.heads = d->heads;
  s.head_dim = d->head_dim;
  s.nq = d->nq;
  s.nk = d->nk;
  s.cu_q = d->cu_q;
  s.cu_k = d->cu_k;
  s.max_seqlen_q = d->max_seqlen_q;
  s.max_seqlen_k = d->max_seqlen_k;
  s.total_q = d->total_q;
  s.mask = d->mask;
  s.mask_b = d->mask_b;
  s.mask_h = d->mask_h;
  s.mask_i = d->mask_i;
  s.scale = d->scale;
  return s;
}
cu::ResampleDim RD(const int64_t* in3, const int64_t* out3, const float* scale3, int i) {
  cu::ResampleDim d;
  d.in = in3[i];
  d.out = out3[i];
  d.scale = scale3[i];
  return d;
}

TesseraCudaApi make_api() {
  TesseraCudaApi a{};
  a.version = TESSERA_CUDA_API_VERSION;
  a.emulated = TESSERA_EMU;

  // ---- runtime ----
  a.device_count = [](int* count, int* cuda_error) -> TsCudaStatus {
    *count = 0;
    const cudaError_t err = cudaGetDeviceCount(count);
    *cuda_error = int(err);
    if (err != cudaSuccess) {
      *count = 0;
      cudaGetLastError();  // clear the sticky-free error so later calls start clean
      return check(err, "cudaGetDeviceCount");
    }
    return nullptr;
  };
  a.device_info = [](int device, char* name, size_t name_len, size_t* total_memory, int* cc_major, int* cc_minor,
                     int* multiprocessors) -> TsCudaStatus {
    cudaDeviceProp p;
    if (TsCudaStatus e = check(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties")) return e;
    std::snprintf(name, name_len, "%s", p.name);
    *total_memory = p.totalGlobalMem;
    *cc_major = p.major;
    *cc_minor = p.minor;
    *multiprocessors = p.multiProcessorCount;
    return nullptr;
  };
  a.set_device = [](int device) { return check(cudaSetDevice(device), "cudaSetDevice"); };
  a.malloc = [](void** ptr, size_t bytes) { return check(cudaMalloc(ptr, bytes), "cudaMalloc"); };
  a.free = [](void* ptr) { return check(cudaFree(ptr), "cudaFree"); };
  a.memcpy_h2d = [](void* dst, const void* src, size_t bytes, void* s) {
    return check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, S(s)), "cudaMemcpyAsync (host to device)");
  };
  a.memcpy_d2h = [](void* dst, const void* src, size_t bytes, void* s) -> TsCudaStatus {
    if (TsCudaStatus e = check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, S(s)),
                               "cudaMemcpyAsync (device to host)"))
      return e;
    return check(cudaStreamSynchronize(S(s)), "cudaStreamSynchronize");
  };
  a.memcpy_d2d = [](void* dst, const void* src, size_t bytes, void* s) {
    return check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, S(s)), "cudaMemcpyAsync (device to device)");
  };
  a.memset = [](void* dst, int value, size_t bytes, void* s) {
    return check(cudaMemsetAsync(dst, value, bytes, S(s)), "cudaMemsetAsync");
  };
  a.stream_create = [](void** stream) -> TsCudaStatus {
    cudaStream_t st = nullptr;
    if (TsCudaStatus e = check(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreateWithFlags"))
      return e;
    *stream = st;
    return nullptr;
  };
  a.stream_destroy = [](void* s) { return check(cudaStreamDestroy(S(s)), "cudaStreamDestroy"); };
  a.stream_synchronize = [](void* s) { return check(cudaStreamSynchronize(S(s)), "cudaStreamSynchronize"); };
  a.mem_get_info = [](size_t* free_bytes, size_t* total_bytes) {
    return check(cudaMemGetInfo(free_bytes, total_bytes), "cudaMemGetInfo");
  };

  // ---- random ----
  a.randn_fill = [](float* out, int64_t n, uint64_t seed, uint64_t offset, void* s) {
    return guard([&] { cu::randn_fill(out, n, seed, offset, S(s)); });
  };
  a.uniform_fill = [](float* out, int64_t n, uint64_t seed, uint64_t offset, void* s) {
    return guard([&] { cu::uniform_fill(out, n, seed, offset, S(s)); });
  };

  // ---- elementwise ----
  a.silu_forward = [](const float* x, float* y, int64_t n, void* s) {
    return guard([&] { cu::silu_forward(x, y, n, S(s)); });
  };
  a.silu_backward = [](const float* x, const float* gy, float* gx, int64_t n, void* s) {
    return guard([&] { cu::silu_backward(x, gy, gx, n, S(s)); });
  };
  a.gelu_forward = [](const float* x, float* y, int64_t n, int32_t tanh_approx, void* s) {
    return guard([&] { cu::gelu_forward(x, y, n, tanh_approx != 0, S(s)); });
  };
  a.gelu_backward = [](const float* x, const float* gy, float* gx, int64_t n, int32_t tanh_approx, void* s) {
    return guard([&] { cu::gelu_backward(x, gy, gx, n, tanh_approx != 0, S(s)); });
  };
  a.exp_forward = [](const float* x, float* y, int64_t n, void* s) {
    return guard([&] { cu::exp_forward(x, y, n, S(s)); });
  };
  a.exp_backward = [](const float* y, const float* gy, float* gx, int64_t n, void* s) {
    return guard([&] { cu::exp_backward(y, gy, gx, n, S(s)); });
  };
  a.clamp_forward = [](const float* x, float* y, int64_t n, float lo, float hi, void* s) {
    return guard([&] { cu::clamp_forward(x, y, n, lo, hi, S(s)); });
  };
  a.clamp_backward = [](const float* x, const float* gy, float* gx, int64_t n, float lo, float hi, void* s) {
    return guard([&] { cu::clamp_backward(x, gy, gx, n, lo, hi, S(s)); });
  };
  a.modulate_forward = [](const float* x, const float* scale, const float* shift, float* y, int64_t B, int64_t T,
                          int64_t C, void* s) {
    return guard([&] { cu::modulate_forward(x, scale, shift, y, B, T, C, S(s)); });
  };
  a.modulate_backward = [](const float* x, const float* scale, const float* gy, float* gx, float* gscale,
                           float* gshift, int64_t B, int64_t T, int64_t C, void* s) {
    return guard([&] { cu::modulate_backward(x, scale, gy, gx, gscale, gshift, B, T, C, S(s)); });
  };
  a.gate_forward = [](const float* x, const float* gate, const float* h, float* y, int64_t B, int64_t T, int64_t C,
                      void* s) { return guard([&] { cu::gate_forward(x, gate, h, y, B, T, C, S(s)); }); };
  a.gate_backward = [](const float* gate, const float* h, const float* gy, float* gx, float* gh, float* ggate,
                       int64_t B, int64_t T, int64_t C, void* s) {
    return guard([&] { cu::gate_backward(gate, h, gy, gx, gh, ggate, B, T, C, S(s)); });
  };

  // ---- binary ----
  a.binary_forward = [](int32_t op, const float* x, const int64_t* xs, int32_t xn, const float* y, const int64_t* ys,
                        int32_t yn, float* out, void* s) {
    return guard([&] { cu::binary_forward(BO(op), x, xs, xn, y, ys, yn, out, S(s)); });
  };
  a.binary_backward_workspace_floats = [](int32_t op, const int64_t* xs, int32_t xn, const int64_t* ys, int32_t yn) {
    return cu::binary_backward_workspace_floats(BO(op), xs, xn, ys, yn);
  };
  a.binary_backward = [](int32_t op, const float* x, const int64_t* xs, int32_t xn, const float* y,
                         const int64_t* ys, int32_t yn, const float* g, float* gx, float* gy, float* ws, void* s) {
    return guard([&] { cu::binary_backward(BO(op), x, xs, xn, y, ys, yn, g, gx, gy, ws, S(s)); });
  };
  a.scale_forward = [](const float* x, float* y, int64_t n, float alpha, void* s) {
    return guard([&] { cu::scale_forward(x, y, n, alpha, S(s)); });
  };

  // ---- loss ----
  a.loss_workspace_floats = [](int32_t kind, int64_t n) {
    return kind == 0 ? cu::mse_loss_workspace_floats(n) : cu::l1_loss_workspace_floats(n);
  };
  a.loss_forward = [](int32_t kind, const float* x, const float* t, float* out, float* ws, int64_t n, void* s) {
    return guard([&] {
      if (kind == 0) cu::mse_loss_forward(x, t, out, ws, n, S(s));
      else cu::l1_loss_forward(x, t, out, ws, n, S(s));
    });
  };
  a.loss_backward = [](int32_t kind, const float* x, const float* t, const float* g, float* gx, float* gt, int64_t n,
                       void* s) {
    return guard([&] {
      if (kind == 0) cu::mse_loss_backward(x, t, g, gx, gt, n, S(s));
      else cu::l1_loss_backward(x, t, g, gx, gt, n, S(s));
    });
  };

  // ---- reduce ----
  a.reduce_workspace_floats = [](const int64_t* shape, int32_t nd, const int64_t* dims, int32_t nds) {
    return cu::reduce_workspace_floats(shape, nd, dims, nds);
  };
  a.reduce_forward = [](int32_t kind, const float* x, const int64_t* shape, int32_t nd, const int64_t* dims,
                        int32_t nds, float* out, float* ws, void* s) {
    return guard([&] {
      if (kind == 0) cu::sum_forward(x, shape, nd, dims, nds, out, ws, S(s));
      else cu::mean_forward(x, shape, nd, dims, nds, out, ws, S(s));
    });
  };
  a.reduce_backward = [](int32_t kind, const float* g, const int64_t* shape, int32_t nd, const int64_t* dims,
                         int32_t nds, float* gx, void* s) {
    return guard([&] {
      if (kind == 0) cu::sum_backward(g, shape, nd, dims, nds, gx, S(s));
      else cu::mean_backward(g, shape, nd, dims, nds, gx, S(s));
    });
  };

  // ---- copy ----
  a.strided_copy = [](const float* src, const int64_t* ss, float* dst, const int64_t* ds, const int64_t* shape,
                      int32_t nd, void* s) { return guard([&] { cu::strided_copy(src, ss, dst, ds, shape, nd, S(s)); }); };
  a.pad_forward = [](const float* x, const int64_t* xs, int32_t nd, const int64_t* pads, int32_t np, float value,
                     float* y, void* s) { return guard([&] { cu::pad_forward(x, xs, nd, pads, np, value, y, S(s)); }); };

  // ---- softmax ----
  a.softmax_forward = [](const float* x, float* y, int64_t rows, int64_t cols, void* s) {
    return guard([&] { cu::softmax_forward(x, y, rows, cols, S(s)); });
  };
  a.softmax_backward = [](const float* y, const float* gy, float* gx, int64_t rows, int64_t cols, void* s) {
    return guard([&] { cu::softmax_backward(y, gy, gx, rows, cols, S(s)); });
  };

  // ---- norm ----
  a.layer_norm_forward = [](const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                            int64_t rows, int64_t C, float eps, void* s) {
    return guard([&] { cu::layer_norm_forward(x, w, b, y, mean, rstd, rows, C, eps, S(s)); });
  };
  a.layer_norm_backward = [](const float* x, const float* w, const float* mean, const float* rstd, const float* gy,
                             float* gx, float* gw, float* gb, float* ws, int64_t rows, int64_t C, void* s) {
    return guard([&] { cu::layer_norm_backward(x, w, mean, rstd, gy, gx, gw, gb, ws, rows, C, S(s)); });
  };
  a.rms_norm_forward = [](const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t C, float eps,
                          void* s) { return guard([&] { cu::rms_norm_forward(x, w, y, rstd, rows, C, eps, S(s)); }); };
  a.rms_norm_backward = [](const float* x, const float* w, const float* rstd, const float* gy, float* gx, float* gw,
                           float* ws, int64_t rows, int64_t C, void* s) {
    return guard([&] { cu::rms_norm_backward(x, w, rstd, gy, gx, gw, ws, rows, C, S(s)); });
  };
  a.norm_backward_workspace_floats = [](int64_t rows, int64_t C) { return cu::norm_backward_workspace_floats(rows, C); };
  a.group_norm_forward = [](const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                            int64_t N, int64_t C, int64_t Sp, int64_t G, float eps, void* s) {
    return guard([&] { cu::group_norm_forward(x, w, b, y, mean, rstd, N, C, Sp, G, eps, S(s)); });
  };
  a.group_norm_backward = [](const float* x, const float* w, const float* mean, const float* rstd, const float* gy,
                             float* gx, float* gw, float* gb, float* ws, int64_t N, int64_t C, int64_t Sp, int64_t G,
                             void* s) {
    return guard([&] { cu::group_norm_backward(x, w, mean, rstd, gy, gx, gw, gb, ws, N, C, Sp, G, S(s)); });
  };
  a.group_norm_backward_workspace_floats = [](int64_t N, int64_t C) {
    return cu::group_norm_backward_workspace_floats(N, C);
  };

  // ---- resample ----
  a.resample_forward = [](const float* x, float* y, int64_t planes, const int64_t* in3, const int64_t* out3,
                          const float* scale3, int32_t linear, void* s) {
    return guard([&] {
      cu::resample_forward(x, y, planes, RD(in3, out3, scale3, 0), RD(in3, out3, scale3, 1), RD(in3, out3, scale3, 2),
                           linear != 0, S(s));
    });
  };
  a.resample_backward = [](const float* gy, float* gx, int64_t planes, const int64_t* in3, const int64_t* out3,
                           const float* scale3, int32_t linear, void* s) {
    return guard([&] {
      cu::resample_backward(gy, gx, planes, RD(in3, out3, scale3, 0), RD(in3, out3, scale3, 1),
                            RD(in3, out3, scale3, 2), linear != 0, S(s));
    });
  };

  // ---- gemm ----
  a.gemm_f32_strided_batched = [](int32_t ta, int32_t tb, int64_t M, int64_t N, int64_t K, float alpha,
                                  const float* A, int64_t lda, int64_t sa, const float* B, int64_t ldb, int64_t sb,
                                  float beta, float* C, int64_t ldc, int64_t sc, int64_t batch, const float* bias,
                                  void* s) {
    return guard([&] {
      cu::gemm_f32_strided_batched(ta != 0, tb != 0, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch,
                                   bias, S(s));
    });
  };
  a.gemm_bf16_strided_batched = [](int32_t ta, int32_t tb, int64_t M, int64_t N, int64_t K, float alpha,
                                   const void* A, int64_t lda, int64_t sa, const void* B, int64_t ldb, int64_t sb,
                                   float beta, float* C, int64_t ldc, int64_t sc, int64_t batch, const float* bias,
                                   void* s) {
    return guard([&] {
      cu::gemm_bf16_strided_batched(ta != 0, tb != 0, M, N, K, alpha, BF(A), lda, sa, BF(B), ldb, sb, beta, C, ldc,
                                    sc, batch, bias, S(s));
    });
  };
  a.column_sums = [](const float* G, int64_t rows, int64_t cols, float* out, void* s) {
    return guard([&] { cu::column_sums(G, rows, cols, out, S(s)); });
  };

  // ---- conv3d ----
  a.conv3d_forward = [](const float* x, const float* w, const float* b, float* y, const TsConv3dShape* d, void* s) {
    return guard([&] { cu::conv3d_forward(x, w, b, y, CS(d), S(s)); });
  };
  a.conv3d_forward_bf16 = [](const void* x, const void* w, const float* b, float* y, const TsConv3dShape* d,
                             void* s) { return guard([&] { cu::conv3d_forward_bf16(BF(x), BF(w), b, y, CS(d), S(s)); }); };
  a.conv3d_backward_workspace_floats = [](const TsConv3dShape* d) {
    return cu::conv3d_backward_workspace_floats(CS(d));
  };
  a.conv3d_backward = [](const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                         const TsConv3dShape* d, float* ws, void* s) {
    return guard([&] { cu::conv3d_backward(x, w, dy, dx, dw, db, CS(d), ws, S(s)); });
  };

  // ---- attention ----
  a.attention_forward = [](const TsAttentionShape* d, const float* q, const float* k, const float* v, float* o,
                           float* lse, void* s) {
    return guard([&] { cu::attention_forward(AS(d), q, k, v, o, lse, S(s)); });
  };
  a.attention_forward_bf16 = [](const TsAttentionShape* d, const void* q, const void* k, const void* v, float* o,
                                float* lse, void* s) {
    return guard([&] { cu::attention_forward_bf16(AS(d), BF(q), BF(k), BF(v), o, lse, S(s)); });
  };
  a.attention_backward_workspace_floats = [](const TsAttentionShape* d) {
    return cu::attention_backward_workspace_floats(AS(d));
  };
  a.attention_backward = [](const TsAttentionShape* d, const float* q, const float* k, const float* v,
                            const float* o, const float* lse, const float* dout, float* dq, float* dk, float* dv,
                            float* ws, void* s) {
    return guard([&] { cu::attention_backward(AS(d), q, k, v, o, lse, dout, dq, dk, dv, ws, S(s)); });
  };

  // ---- rope ----
  a.rope3d_forward = [](const float* x, const float* pos, float* y, int64_t B, int64_t H, int64_t N, int64_t Dh,
                        int64_t st, int64_t sh, int64_t sw, double theta, void* s) {
    return guard([&] { cu::rope3d_forward(x, pos, y, B, H, N, Dh, st, sh, sw, theta, S(s)); });
  };
  a.rope3d_backward = [](const float* dy, const float* pos, float* dx, int64_t B, int64_t H, int64_t N, int64_t Dh,
                         int64_t st, int64_t sh, int64_t sw, double theta, void* s) {
    return guard([&] { cu::rope3d_backward(dy, pos, dx, B, H, N, Dh, st, sh, sw, theta, S(s)); });
  };

  // ---- optim ----
  a.adamw_step = [](float* p, const float* g, float* m, float* v, int64_t n, double lr, double beta1, double beta2,
                    double eps, double wd, int64_t step, void* s) {
    return guard([&] { cu::adamw_step(p, g, m, v, n, lr, beta1, beta2, eps, wd, step, S(s)); });
  };
  a.global_norm_workspace_floats = [](int64_t num_tensors) { return cu::global_norm_workspace_floats(num_tensors); };
  a.global_norm = [](const float* const* data, const int64_t* sizes, int64_t num, float* ws, float* out, void* s) {
    return guard([&] {
      std::vector<const float*> d(data, data + num);
      std::vector<int64_t> z(sizes, sizes + num);
      cu::global_norm(d, z, ws, out, S(s));
    });
  };
  return a;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const TesseraCudaApi* tessera_cuda_api(void) {
  static const TesseraCudaApi api = make_api();
  return &api;
}
