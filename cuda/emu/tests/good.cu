// cuda/emu/tests/good.cu — correct kernels that exercise every emulated feature.
// They must give the reference result under every schedule (inorder, reverse,
// random), and with no ThreadSanitizer / AddressSanitizer report. Valid CUDA too.
#include "../../launch.h"
#include "test_kernels.h"

using namespace nvcuda;

// ---- block reduction: warp shuffles, then one shared slot per warp ----
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}
__global__ void block_sum_kernel(const float* __restrict__ in, float* __restrict__ out, int n) {
  TESSERA_SHARED(float, warp_sums, 32);
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? in[i] : 0.0f;
  v = warp_sum(v);
  const int lane = threadIdx.x % warpSize, warp = threadIdx.x / warpSize;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (int)(blockDim.x / warpSize) ? warp_sums[lane] : 0.0f;
    v = warp_sum(v);
    if (lane == 0) out[blockIdx.x] = v;
  }
}
void block_sum_shfl(const float* in, float* block_sums, int n, int threads) {
  TESSERA_LAUNCH(block_sum_kernel, (n + threads - 1) / threads, threads, 0, 0)(in, block_sums, n);
}

// ---- warp inclusive scan with __shfl_up_sync ----
__global__ void warp_scan_kernel(const int* in, int* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  int v = i < n ? in[i] : 0;
  const int lane = threadIdx.x & 31;
  for (int d = 1; d < 32; d <<= 1) {
    int u = __shfl_up_sync(0xffffffffu, v, d);
    if (lane >= d) v += u;
  }
  if (i < n) out[i] = v;
}
void warp_scan(const int* in, int* out, int n) {
  TESSERA_LAUNCH(warp_scan_kernel, (n + 127) / 128, 128, 0, 0)(in, out, n);
}

// ---- broadcast (__shfl_sync with width 8) and butterfly max (__shfl_xor_sync) ----
__global__ void bcast_xor_kernel(const float* in, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? in[i] : -1e30f;
  float first_of_8 = __shfl_sync(0xffffffffu, v, 0, 8);  // lane 0 of each group of 8
  float m = v;
  for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
  if (i < n) out[i] = first_of_8 + m;
}
void warp_broadcast_xor(const float* in, float* out, int n) {
  TESSERA_LAUNCH(bcast_xor_kernel, (n + 63) / 64, 64, 0, 0)(in, out, n);
}

// ---- tiled shared-memory matmul, C[m,n] = A[m,k] B[k,n], all row-major ----
constexpr int TILE = 16;
__global__ void matmul_tiled_kernel(const float* a, const float* b, float* c, int m, int n, int k) {
  TESSERA_SHARED_2D(float, as, TILE, TILE + 1);
  TESSERA_SHARED_2D(float, bs, TILE, TILE + 1);
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;
  float acc = 0.0f;
  for (int t = 0; t < k; t += TILE) {
    as[ty][tx] = (row < m && t + tx < k) ? a[(size_t)row * k + t + tx] : 0.0f;
    bs[ty][tx] = (t + ty < k && col < n) ? b[(size_t)(t + ty) * n + col] : 0.0f;
    __syncthreads();
    for (int j = 0; j < TILE; ++j) acc = fmaf(as[ty][j], bs[j][tx], acc);
    __syncthreads();
  }
  if (row < m && col < n) c[(size_t)row * n + col] = acc;
}
void matmul_tiled(const float* a, const float* b, float* c, int m, int n, int k) {
  dim3 grid((n + TILE - 1) / TILE, (m + TILE - 1) / TILE), block(TILE, TILE);
  TESSERA_LAUNCH(matmul_tiled_kernel, grid, block, 0, 0)(a, b, c, m, n, k);
}

// ---- wmma: one warp per 16x16 output tile, fp32 accumulation ----
template <class T>
__global__ void wmma_gemm_kernel(const T* a, const T* b, float* c, int m, int n, int k) {
  (void)m;  // m is a multiple of 16 and the grid covers it exactly
  const int tile_m = blockIdx.y, tile_n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (tile_n * 16 >= n) return;  // whole warps only
  wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
  wmma::fill_fragment(acc, 0.0f);
  for (int t = 0; t < k; t += 16) {
    wmma::load_matrix_sync(fa, a + (size_t)tile_m * 16 * k + t, k);
    wmma::load_matrix_sync(fb, b + (size_t)t * n + tile_n * 16, n);
    wmma::mma_sync(acc, fa, fb, acc);
  }
  for (int i = 0; i < acc.num_elements; ++i) acc.x[i] *= 1.0f;  // element-wise access is layout-free
  wmma::store_matrix_sync(c + (size_t)tile_m * 16 * n + tile_n * 16, acc, n, wmma::mem_row_major);
}
void wmma_gemm_half(const __half* a, const __half* b, float* c, int m, int n, int k) {
  auto kernel = wmma_gemm_kernel<__half>;
  TESSERA_LAUNCH(kernel, dim3((n / 16 + 1) / 2, m / 16), 64, 0, 0)(a, b, c, m, n, k);
}
void wmma_gemm_bf16(const __nv_bfloat16* a, const __nv_bfloat16* b, float* c, int m, int n, int k) {
  TESSERA_LAUNCH((wmma_gemm_kernel<__nv_bfloat16>), dim3((n / 16 + 1) / 2, m / 16), 64, 0, 0)(a, b, c, m, n, k);
}

// ---- votes ----
__global__ void votes_kernel(const int* in, unsigned* ballot, int* all, int* any, int* count, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int p = i < n && in[i] > 0;
  const unsigned b = __ballot_sync(0xffffffffu, p);
  const int al = __all_sync(0xffffffffu, p), an = __any_sync(0xffffffffu, p);
  const int cnt = __syncthreads_count(p);
  const int warp = i / 32;
  if ((threadIdx.x & 31) == 0) {
    ballot[warp] = b;
    all[warp] = al;
    any[warp] = an;
  }
  if (threadIdx.x == 0) count[blockIdx.x] = cnt;
}
void votes(const int* in, unsigned* ballot, int* all, int* any, int* count, int n) {
  TESSERA_LAUNCH(votes_kernel, (n + 127) / 128, 128, 0, 0)(in, ballot, all, any, count, n);
}

// ---- dynamic shared memory: reverse each block's chunk ----
__global__ void reverse_kernel(const float* in, float* out, int n) {
  TESSERA_DYNAMIC_SHARED(float, buf);
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  buf[threadIdx.x] = i < n ? in[i] : 0.0f;
  __syncthreads();
  const int j = blockIdx.x * blockDim.x + (blockDim.x - 1 - threadIdx.x);
  if (j < n) out[j] = buf[threadIdx.x];
}
void reverse_dynamic_smem(const float* in, float* out, int n, int threads) {
  TESSERA_LAUNCH(reverse_kernel, (n + threads - 1) / threads, threads, threads * sizeof(float), 0)(in, out, n);
}

// ---- histogram: shared atomics, then global atomics ----
__global__ void histogram_kernel(const int* in, unsigned* hist, int n, int bins) {
  TESSERA_SHARED(unsigned, local, 64);
  for (int b = threadIdx.x; b < bins; b += blockDim.x) local[b] = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    atomicAdd(&local[in[i] % bins], 1u);
  __syncthreads();
  for (int b = threadIdx.x; b < bins; b += blockDim.x) atomicAdd(&hist[b], local[b]);
}
void histogram_atomic(const int* in, unsigned* hist, int n, int bins) {
  TESSERA_LAUNCH(histogram_kernel, 4, 128, 0, 0)(in, hist, n, bins);
}

// ---- a block whose last warp is partial: shuffles with __activemask() ----
__global__ void partial_warp_kernel(const float* in, float* out) {
  TESSERA_SHARED(float, sums, 32);
  const unsigned mask = __activemask();  // lanes that exist in this warp
  float v = in[threadIdx.x];
  for (int o = 16; o > 0; o >>= 1) {
    float u = __shfl_down_sync(mask, v, o);
    if ((threadIdx.x & 31) + o < 32 && (mask >> ((threadIdx.x & 31) + o) & 1)) v += u;
  }
  if ((threadIdx.x & 31) == 0) sums[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0.0f;
    for (unsigned w = 0; w < (blockDim.x + 31) / 32; ++w) s += sums[w];
    *out = s;
  }
}
void partial_warp_sum(const float* in, float* out, int threads) {
  TESSERA_LAUNCH(partial_warp_kernel, 1, threads, 0, 0)(in, out);
}

// ---- __constant__ memory written with cudaMemcpyToSymbol ----
__constant__ float c_affine[2];
__global__ void affine_kernel(const float* in, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = fmaf(in[i], c_affine[0], c_affine[1]);
}
void affine_constant(const float* in, float* out, int n, float scale, float shift) {
  const float h[2] = {scale, shift};
  cudaMemcpyToSymbol(c_affine, h, sizeof h);
  TESSERA_LAUNCH(affine_kernel, (n + 127) / 128, 128, 0, 0)(in, out, n);
}
