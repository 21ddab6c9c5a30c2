// cuda/attention.h — scaled-dot-product attention on the GPU, flash-attention-2
// style (semantics of native/cpu/attention.h: same layouts, same lse, same
// handling of empty and fully masked rows).
//
// Math, per (sequence b, head h), queries i < Nq, keys j < Nk:
//   S_ij  = scale * q_i . k_j + mask(b, h, i, j)            (mask optional, additive)
//   lse_i = log sum_j exp(S_ij)
//   P_ij  = exp(S_ij - lse_i);   o_i = sum_j P_ij v_j
// A row whose scores are all -inf (or that has no keys) gets o = 0 and lse = -inf.
// Backward, given o, lse and dout = dL/do:
//   D_i = sum_d dout_id o_id;  dP_ij = dout_i . v_j;  dS_ij = P_ij (dP_ij - D_i)
//   dq_i = scale sum_j dS_ij k_j;  dk_j = scale sum_i dS_ij q_i;  dv_j = sum_i P_ij dout_i
// (rows with lse = -inf have P = 0, hence zero gradient). The N x N matrices are
// never stored: forward runs an online softmax over key tiles; backward recomputes
// P from lse tile by tile, dk/dv per key tile and dq per query tile (two passes,
// no atomics: results do not depend on the schedule).
//
// Layouts (all contiguous f32 device memory unless noted):
//   dense   q [B, H, Nq, Dh], k/v [B, H, Nk, Dh], o [B, H, Nq, Dh], lse [B, H, Nq]
//   packed  q [Tq, H, Dh], k/v [Tk, H, Dh], o [Tq, H, Dh], lse [H, Tq], with device
//           offsets cu_q / cu_k = [0, ..., T] (batch + 1 entries, flash-attn varlen);
//           sequence b owns query rows cu_q[b] .. cu_q[b+1] and key rows cu_k[b] .. cu_k[b+1].
// Mask (optional, device f32): score (b, h, i, j) adds mask[b*mask_b + h*mask_h + i*mask_i + j]
// (a zero stride broadcasts; i and j count from the start of the sequence, as on the CPU).
//
// Head dims 0..128 (kAttentionMaxHeadDim) are supported, any value in between
// (padded to a multiple of 16 in shared memory); others throw std::invalid_argument.
// Every launcher checks its arguments (std::invalid_argument) and its launches
// (std::runtime_error). Launches go to `stream`; nothing is allocated inside.
#pragma once
#include <cstdint>

#include "launch.h"

namespace tessera {
namespace cuda {

constexpr int64_t kAttentionMaxHeadDim = 128;

struct AttentionShape {
  int64_t batch = 0;       // B (dense) or number of sequences (packed)
  int64_t heads = 0;       // H
  int64_t head_dim = 0;    // Dh, 0..128
  int64_t nq = 0, nk = 0;  // dense sequence lengths (ignored when packed)
  // Packed (varlen): device int64 offsets, batch + 1 entries each; nullptr means dense.
  const int64_t* cu_q = nullptr;
  const int64_t* cu_k = nullptr;
  // Packed: upper bounds of the sequence lengths (the host cannot read cu_q/cu_k
  // cheaply; they size the grid, so each must be >= every sequence's length), and
  // Tq = cu_q[batch] (the lse layout [H, Tq]).
  int64_t max_seqlen_q = 0, max_seqlen_k = 0;
  int64_t total_q = 0;
  // Optional additive mask (device f32) with broadcast strides (>= 0).
  const float* mask = nullptr;
  int64_t mask_b = 0, mask_h = 0, mask_i = 0;
  float scale = 1.0f;  // finite
};

// Number of floats of the lse buffer: B*H*Nq (dense) or H*Tq (packed).
int64_t attention_lse_numel(const AttentionShape& s);

// Forward, fp32 throughout (SIMT FMA): o = softmax(S) v, lse = log-sum-exp of S rows.
void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v, float* o,
                       float* lse, cudaStream_t stream);

// Forward on tensor cores: q, k, v in bf16; S = q k^T and O += P v are wmma
// 16x16x16 bf16 products with fp32 accumulation; softmax statistics, scale, mask,
// o and lse are fp32. P is rounded to bf16 before the P v product; o is normalised
// by the sum of the rounded P (so each o_i is a convex combination of v rows),
// lse uses the unrounded sum.
void attention_forward_bf16(const AttentionShape& s, const __nv_bfloat16* q, const __nv_bfloat16* k,
                            const __nv_bfloat16* v, float* o, float* lse, cudaStream_t stream);

// Workspace (floats) attention_backward needs: D_i = sum_d dout_id o_id, one per
// lse entry (attention_lse_numel).
int64_t attention_backward_workspace_floats(const AttentionShape& s);

// Backward, fp32: given o and lse from forward and dout, writes dq (like q) and
// dk, dv (like k); every element is written (zeros for keys no query attends to,
// queries with lse = -inf). workspace: attention_backward_workspace_floats(s) floats.
void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* o,
                        const float* lse, const float* dout, float* dq, float* dk, float* dv, float* workspace,
                        cudaStream_t stream);

}  // namespace cuda
}  // namespace tessera
