// Scaled-dot-product attention on the CPU, flash-attention style: per (sequence,
// head, 64-query block) the kernel loops over 64-key blocks with an online softmax
// (running row max and sum), so memory stays O(N) — the N x N score matrix is
// never formed. Forward keeps the per-row log-sum-exp for backward, which
// recomputes the probabilities tile by tile (flash-attention-2).
//
// Two layouts share the kernels:
//   dense  q [B, H, Nq, Dh], k/v [B, H, Nk, Dh], o [B, H, Nq, Dh], lse [B, H, Nq]
//   packed q [Tq, H, Dh], k/v [Tk, H, Dh] with cu_q/cu_k = [0, ..., T] (flash-attn varlen),
//          o [Tq, H, Dh], lse [H, Tq]
// All pointers are contiguous f32. Results are bit-identical for any thread count.
#pragma once
#include <cstdint>

namespace tessera::cpu {

struct AttentionShape {
  int64_t batch = 0;      // B (dense) or number of sequences (packed)
  int64_t heads = 0;      // H
  int64_t head_dim = 0;   // Dh
  int64_t nq = 0, nk = 0; // dense sequence lengths (ignored when packed)
  const int64_t* cu_q = nullptr;  // packed: batch + 1 query offsets; nullptr means dense
  const int64_t* cu_k = nullptr;  // packed: batch + 1 key offsets
  // Optional additive mask (dense only): score (b, h, i, j) gets
  // mask[b * mask_b + h * mask_h + i * mask_i + j]; a zero stride broadcasts.
  const float* mask = nullptr;
  int64_t mask_b = 0, mask_h = 0, mask_i = 0;
  float scale = 1.0f;
};

// Number of floats of the lse buffer: B*H*Nq (dense) or H*Tq (packed).
int64_t attention_lse_numel(const AttentionShape& s);

// Forward. S = scale * q k^T + mask; o = softmax(S) v; lse = log(sum_j exp(S_ij)).
// A row whose scores are all -inf (or that has no keys) gets o = 0 and lse = -inf.
void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v, float* o,
                       float* lse);

// Backward, given o and lse from forward and do = dL/do:
//   P = exp(S - lse);  D_i = sum_d do_id o_id;  dv = P^T do;  dP = do v^T;
//   dS = P * (dP - D);  dq = scale dS k;  dk = scale dS^T q.
// dq is computed per query block and dk/dv per key block (two passes, no atomics).
void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* o,
                        const float* lse, const float* dout, float* dq, float* dk, float* dv);

}  // namespace tessera::cpu
