// The boundary between tessera's core (built by any C++ compiler, no CUDA
// headers) and the CUDA backend library, libtessera_cuda.so (built by nvcc from
// cuda/*.cu, cudart linked statically), which the core loads with dlopen at run
// time. The library exports one C function,
//
//   const TesseraCudaApi* tessera_cuda_api(void);
//
// returning a table of plain C function pointers: the CUDA runtime calls the core
// needs (devices, memory, copies, streams) and every kernel launcher of cuda/*.h.
// Only C types cross the boundary (no C++ exceptions, no std:: types): each entry
// returns NULL on success or a message (CUDA's own, e.g. "out of memory"), valid
// until the next call on the same thread. Streams are opaque `void*`
// (cudaStream_t); bf16 / f16 data is `const void*`.
//
// The same table is also built against the CPU emulator (cuda/emu) as
// libtessera_cuda_emu.so, so the whole path — loading, device memory, op
// dispatch — runs in CI without a GPU.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Bumped whenever the table changes; the core refuses a library with another version.
#define TESSERA_CUDA_API_VERSION 3

typedef const char* TsCudaStatus;  // NULL: success

// Mirror of tessera::cpu::Conv3dShape (native/cpu/conv3d.h).
typedef struct TsConv3dShape {
  int64_t N, Cin, D, H, W, Cout, kD, kH, kW, sD, sH, sW, pF, pB, pH, pW, Do, Ho, Wo;
} TsConv3dShape;

// Mirror of tessera::cuda::AttentionShape (cuda/attention.h): dense [B, H, N, Dh],
// or packed varlen with device offsets cu_q / cu_k (batch + 1 entries), the
// longest sequences and the packed query count.
typedef struct TsAttentionShape {
  int64_t batch, heads, head_dim, nq, nk;
  const int64_t* cu_q;
  const int64_t* cu_k;
  int64_t max_seqlen_q, max_seqlen_k, total_q;
  const float* mask;
  int64_t mask_b, mask_h, mask_i;
  float scale;
} TsAttentionShape;

typedef struct TesseraCudaApi {
  int32_t version;   // TESSERA_CUDA_API_VERSION
  int32_t emulated;  // 1: kernels run on the CPU emulator (tests), 0: a real GPU
  // Everything below is a function pointer, and the loader refuses a table with an
  // empty one (cuda_backend.cpp), so keep it that way.

  // ---- runtime ------------------------------------------------------------------
  // count of devices; *cuda_error gets the cudaError_t code (35 = insufficient
  // driver, 100 = no device) so the core can say why CUDA is off.
  TsCudaStatus (*device_count)(int* count, int* cuda_error);
  TsCudaStatus (*device_info)(int device, char* name, size_t name_len, size_t* total_memory, int* cc_major,
                              int* cc_minor, int* multiprocessors);
  TsCudaStatus (*set_device)(int device);
  TsCudaStatus (*malloc)(void** ptr, size_t bytes);
  TsCudaStatus (*free)(void* ptr);
  TsCudaStatus (*memcpy_h2d)(void* dst, const void* src, size_t bytes, void* stream);
  TsCudaStatus (*memcpy_d2h)(void* dst, const void* src, size_t bytes, void* stream);  // waits for the copy
  TsCudaStatus (*memcpy_d2d)(void* dst, const void* src, size_t bytes, void* stream);
  TsCudaStatus (*memset)(void* dst, int value, size_t bytes, void* stream);
  TsCudaStatus (*stream_create)(void** stream);
  TsCudaStatus (*stream_destroy)(void* stream);
  TsCudaStatus (*stream_synchronize)(void* stream);
  TsCudaStatus (*mem_get_info)(size_t* free_bytes, size_t* total_bytes);

  // ---- random (cuda/random.h) -------------------------------------------------------
  TsCudaStatus (*randn_fill)(float* out, int64_t n, uint64_t seed, uint64_t offset, void* stream);
  TsCudaStatus (*uniform_fill)(float* out, int64_t n, uint64_t seed, uint64_t offset, void* stream);

  // ---- elementwise (cuda/elementwise.h) -------------------------------------------
  TsCudaStatus (*silu_forward)(const float* x, float* y, int64_t n, void* stream);
  TsCudaStatus (*silu_backward)(const float* x, const float* gy, float* gx, int64_t n, void* stream);
  TsCudaStatus (*gelu_forward)(const float* x, float* y, int64_t n, int32_t approximate_tanh, void* stream);
  TsCudaStatus (*gelu_backward)(const float* x, const float* gy, float* gx, int64_t n, int32_t approximate_tanh,
                                void* stream);
  TsCudaStatus (*exp_forward)(const float* x, float* y, int64_t n, void* stream);
  TsCudaStatus (*exp_backward)(const float* y, const float* gy, float* gx, int64_t n, void* stream);  // gx = gy * y
  // lo / hi: -inf / +inf for an absent bound
  TsCudaStatus (*clamp_forward)(const float* x, float* y, int64_t n, float lo, float hi, void* stream);
  TsCudaStatus (*clamp_backward)(const float* x, const float* gy, float* gx, int64_t n, float lo, float hi,
                                 void* stream);
  TsCudaStatus (*modulate_forward)(const float* x, const float* scale, const float* shift, float* y, int64_t B,
                                   int64_t T, int64_t C, void* stream);
  TsCudaStatus (*modulate_backward)(const float* x, const float* scale, const float* gy, float* gx, float* gscale,
                                    float* gshift, int64_t B, int64_t T, int64_t C, void* stream);
  TsCudaStatus (*gate_forward)(const float* x, const float* gate, const float* h, float* y, int64_t B, int64_t T,
                               int64_t C, void* stream);
  TsCudaStatus (*gate_backward)(const float* gate, const float* h, const float* gy, float* gx, float* gh,
                                float* ggate, int64_t B, int64_t T, int64_t C, void* stream);

  // ---- binary (cuda/binary.h): op 0 add, 1 sub, 2 mul; NumPy broadcasting, up to 16 dims -----------
  TsCudaStatus (*binary_forward)(int32_t op, const float* a, const int64_t* a_shape, int32_t a_ndim, const float* b,
                                 const int64_t* b_shape, int32_t b_ndim, float* out, void* stream);
  int64_t (*binary_backward_workspace_floats)(int32_t op, const int64_t* a_shape, int32_t a_ndim,
                                              const int64_t* b_shape, int32_t b_ndim);
  TsCudaStatus (*binary_backward)(int32_t op, const float* a, const int64_t* a_shape, int32_t a_ndim, const float* b,
                                  const int64_t* b_shape, int32_t b_ndim, const float* gout, float* ga, float* gb,
                                  float* workspace, void* stream);
  TsCudaStatus (*scale_forward)(const float* x, float* y, int64_t n, float alpha, void* stream);

  // ---- loss (cuda/loss.h): kind 0 mse, 1 l1; the loss and its upstream gradient are device scalars ----
  int64_t (*loss_workspace_floats)(int32_t kind, int64_t n);
  TsCudaStatus (*loss_forward)(int32_t kind, const float* x, const float* target, float* out, float* workspace,
                               int64_t n, void* stream);
  TsCudaStatus (*loss_backward)(int32_t kind, const float* x, const float* target, const float* gout, float* gx,
                                float* gt, int64_t n, void* stream);

  // ---- reduce (cuda/reduce.h): kind 0 sum, 1 mean over `dims` (empty: all) ------------------------
  int64_t (*reduce_workspace_floats)(const int64_t* shape, int32_t ndim, const int64_t* dims, int32_t num_dims);
  TsCudaStatus (*reduce_forward)(int32_t kind, const float* x, const int64_t* shape, int32_t ndim, const int64_t* dims,
                                 int32_t num_dims, float* out, float* workspace, void* stream);
  TsCudaStatus (*reduce_backward)(int32_t kind, const float* g, const int64_t* shape, int32_t ndim,
                                  const int64_t* dims, int32_t num_dims, float* gx, void* stream);

  // ---- copy (cuda/copy.h): the shape ops' data movement -----------------------------------------
  TsCudaStatus (*strided_copy)(const float* src, const int64_t* src_strides, float* dst, const int64_t* dst_strides,
                               const int64_t* shape, int32_t ndim, void* stream);
  TsCudaStatus (*pad_forward)(const float* x, const int64_t* x_shape, int32_t ndim, const int64_t* pads,
                              int32_t num_pads, float value, float* y, void* stream);

  // ---- softmax (cuda/softmax.h) -------------------------------------------------------
  TsCudaStatus (*softmax_forward)(const float* x, float* y, int64_t rows, int64_t cols, void* stream);
  TsCudaStatus (*softmax_backward)(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols,
                                   void* stream);

  // ---- norm (cuda/norm.h) ---------------------------------------------------------------
  TsCudaStatus (*layer_norm_forward)(const float* x, const float* w, const float* b, float* y, float* mean,
                                     float* rstd, int64_t rows, int64_t C, float eps, void* stream);
  TsCudaStatus (*layer_norm_backward)(const float* x, const float* w, const float* mean, const float* rstd,
                                      const float* gy, float* gx, float* gw, float* gb, float* workspace,
                                      int64_t rows, int64_t C, void* stream);
  TsCudaStatus (*rms_norm_forward)(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t C,
                                   float eps, void* stream);
  TsCudaStatus (*rms_norm_backward)(const float* x, const float* w, const float* rstd, const float* gy, float* gx,
                                    float* gw, float* workspace, int64_t rows, int64_t C, void* stream);
  int64_t (*norm_backward_workspace_floats)(int64_t rows, int64_t C);
  TsCudaStatus (*group_norm_forward)(const float* x, const float* w, const float* b, float* y, float* mean,
                                     float* rstd, int64_t N, int64_t C, int64_t S, int64_t G, float eps,
                                     void* stream);
  TsCudaStatus (*group_norm_backward)(const float* x, const float* w, const float* mean, const float* rstd,
                                      const float* gy, float* gx, float* gw, float* gb, float* workspace, int64_t N,
                                      int64_t C, int64_t S, int64_t G, void* stream);
  int64_t (*group_norm_backward_workspace_floats)(int64_t N, int64_t C);

  // ---- resample (cuda/resample.h): dims as {in, out} pairs and float scales ----------------
  TsCudaStatus (*resample_forward)(const float* x, float* y, int64_t planes, const int64_t* in3, const int64_t* out3,
                                   const float* scale3, int32_t linear, void* stream);
  TsCudaStatus (*resample_backward)(const float* gy, float* gx, int64_t planes, const int64_t* in3,
                                    const int64_t* out3, const float* scale3, int32_t linear, void* stream);

  // ---- gemm (cuda/gemm.h) -----------------------------------------------------------------
  TsCudaStatus (*gemm_f32_strided_batched)(int32_t trans_a, int32_t trans_b, int64_t M, int64_t N, int64_t K,
                                           float alpha, const float* A, int64_t lda, int64_t stride_a, const float* B,
                                           int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
                                           int64_t stride_c, int64_t batch, const float* bias, void* stream);
  TsCudaStatus (*gemm_bf16_strided_batched)(int32_t trans_a, int32_t trans_b, int64_t M, int64_t N, int64_t K,
                                            float alpha, const void* A, int64_t lda, int64_t stride_a, const void* B,
                                            int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
                                            int64_t stride_c, int64_t batch, const float* bias, void* stream);
  TsCudaStatus (*column_sums)(const float* G, int64_t rows, int64_t cols, float* out, void* stream);

  // ---- conv3d (cuda/conv3d.h) ------------------------------------------------------------------
  TsCudaStatus (*conv3d_forward)(const float* x, const float* w, const float* bias, float* y, const TsConv3dShape* s,
                                 void* stream);
  TsCudaStatus (*conv3d_forward_bf16)(const void* x, const void* w, const float* bias, float* y,
                                      const TsConv3dShape* s, void* stream);
  int64_t (*conv3d_backward_workspace_floats)(const TsConv3dShape* s);
  TsCudaStatus (*conv3d_backward)(const float* x, const float* w, const float* dy, float* dx, float* dw, float* dbias,
                                  const TsConv3dShape* s, float* workspace, void* stream);

  // ---- attention (cuda/attention.h) -------------------------------------------------------------
  TsCudaStatus (*attention_forward)(const TsAttentionShape* s, const float* q, const float* k, const float* v,
                                    float* o, float* lse, void* stream);
  TsCudaStatus (*attention_forward_bf16)(const TsAttentionShape* s, const void* q, const void* k, const void* v,
                                         float* o, float* lse, void* stream);
  int64_t (*attention_backward_workspace_floats)(const TsAttentionShape* s);
  TsCudaStatus (*attention_backward)(const TsAttentionShape* s, const float* q, const float* k, const float* v,
                                     const float* o, const float* lse, const float* dout, float* dq, float* dk,
                                     float* dv, float* workspace, void* stream);

  // ---- rope (cuda/rope.h) ---------------------------------------------------------------------
  TsCudaStatus (*rope3d_forward)(const float* x, const float* positions, float* y, int64_t B, int64_t H, int64_t N,
                                 int64_t Dh, int64_t st, int64_t sh, int64_t sw, double theta, void* stream);
  TsCudaStatus (*rope3d_backward)(const float* dy, const float* positions, float* dx, int64_t B, int64_t H,
                                  int64_t N, int64_t Dh, int64_t st, int64_t sh, int64_t sw, double theta,
                                  void* stream);

  // ---- optim (cuda/optim.h) -----------------------------------------------------------------
  TsCudaStatus (*adamw_step)(float* p, const float* g, float* m, float* v, int64_t n, double lr, double beta1,
                             double beta2, double eps, double weight_decay, int64_t step, void* stream);
  int64_t (*global_norm_workspace_floats)(int64_t num_tensors);
  TsCudaStatus (*global_norm)(const float* const* data, const int64_t* sizes, int64_t num_tensors, float* workspace,
                              float* out, void* stream);
} TesseraCudaApi;

typedef const TesseraCudaApi* (*TesseraCudaApiFn)(void);

#ifdef __cplusplus
}  // extern "C"
#endif
