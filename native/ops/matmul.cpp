// Op family 'matmul' (docs/OPS.md): out = op(a) @ op(b) (+ bias), batched.
//
//   a [..., M, K] ([..., K, M] if transA), b [..., K, N] ([..., N, K] if transB),
//   bias [N] (optional) -> out [..., M, N]
// Batch dims: equal on both sides, or one side 2-d and shared by every batch entry
// (x [B, T, K] @ W^T with W [N, K], as nn.Linear).
//
// Backward (G = dout, per batch entry):
//   d op(a) = G @ op(b)^T,  d op(b) = op(a)^T @ G,  dbias = sum of G over all rows.
// The gradient of a shared 2-d side is the sum over the batch, accumulated in batch
// order (or, when a's rows can be flattened, as one GEMM whose K dimension runs over
// batch x rows in fixed blocks), so it is the same for any thread count.
#include <algorithm>

#include "backend/cuda_ops.h"
#include "core/error.h"
#include "core/op.h"
#include "core/threadpool.h"
#include "cpu/gemm.h"

namespace tessera {

namespace {

struct MatmulPlan {
  bool trans_a = false, trans_b = false;
  int64_t M = 0, K = 0, N = 0;
  int64_t batch = 1;
  bool a_batched = false, b_batched = false;
  Shape out_shape;
};

MatmulPlan plan_matmul(const Tensor& a, const Tensor& b, const Tensor* bias, const OpParams& params) {
  MatmulPlan p;
  p.trans_a = params.get_bool("transA", false);
  p.trans_b = params.get_bool("transB", false);
  TS_CHECK_SHAPE(a.dim() >= 2, "matmul: a must have at least 2 dims [..., M, K], got ", a.describe());
  TS_CHECK_SHAPE(b.dim() >= 2, "matmul: b must have at least 2 dims [..., K, N], got ", b.describe());
  const int64_t a_rows = a.size(-2), a_cols = a.size(-1);
  const int64_t b_rows = b.size(-2), b_cols = b.size(-1);
  p.M = p.trans_a ? a_cols : a_rows;
  const int64_t ka = p.trans_a ? a_rows : a_cols;
  const int64_t kb = p.trans_b ? b_cols : b_rows;
  p.N = p.trans_b ? b_rows : b_cols;
  TS_CHECK_SHAPE(ka == kb, "matmul: inner dimensions differ: a ", a.describe(), (p.trans_a ? " (transA)" : ""),
                 " has K = ", ka, ", b ", b.describe(), (p.trans_b ? " (transB)" : ""), " has K = ", kb);
  p.K = ka;
  const Shape a_batch(a.shape().begin(), a.shape().end() - 2);
  const Shape b_batch(b.shape().begin(), b.shape().end() - 2);
  p.a_batched = !a_batch.empty();
  p.b_batched = !b_batch.empty();
  if (p.a_batched && p.b_batched) {
    TS_CHECK_SHAPE(a_batch == b_batch, "matmul: batch dims must be equal or one side 2-d, got a ", a.describe(),
                   " and b ", b.describe());
  }
  const Shape& batch_shape = p.a_batched ? a_batch : b_batch;
  p.batch = shape_numel(batch_shape);
  p.out_shape = batch_shape;
  p.out_shape.push_back(p.M);
  p.out_shape.push_back(p.N);
  if (bias && bias->defined()) {
    TS_CHECK_SHAPE(bias->dim() == 1 && bias->size(0) == p.N, "matmul: bias must be [N] = [", p.N, "], got ",
                   bias->describe());
  }
  return p;
}

// out[j] = sum_i g[i, j] over rows in order, in double; parallel over columns.
void column_sums(const float* g, int64_t rows, int64_t cols, float* out) {
  constexpr int64_t kCols = 64;
  parallel_for((cols + kCols - 1) / kCols, 1, [&](int64_t b, int64_t e) {
    double acc[kCols];
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t j0 = blk * kCols, jn = std::min(kCols, cols - j0);
      std::fill(acc, acc + jn, 0.0);
      for (int64_t i = 0; i < rows; ++i) {
        const float* row = g + i * cols + j0;
        for (int64_t j = 0; j < jn; ++j) acc[j] += double(row[j]);
      }
      for (int64_t j = 0; j < jn; ++j) out[j0 + j] = float(acc[j]);
    }
  });
}

// C_i = op(A_i) @ op(B_i) + beta C_i (+ bias) for i < batch, on either device
// (cpu::sgemm_strided_batched or the CUDA f32 GEMM); strides in elements.
void gemm(Device dev, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, int64_t sa,
          const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc, int64_t batch,
          const float* bias = nullptr) {
  if (dev == Device::CUDA)
    TS_CUDA("matmul", gemm_f32_strided_batched, ta, tb, M, N, K, 1.0f, A, lda, sa, B, ldb, sb, beta, C, ldc, sc,
            batch, bias);
  else cpu::sgemm_strided_batched(ta, tb, M, N, K, 1.0f, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch, bias);
}

std::vector<Tensor> matmul_forward(Device dev, const std::vector<Tensor>& inputs, const OpParams& params,
                                   OpContext& ctx) {
  Tensor a = contiguous_f32(inputs[0], dev, "matmul", "a");
  Tensor b = contiguous_f32(inputs[1], dev, "matmul", "b");
  Tensor bias;
  if (inputs.size() > 2 && inputs[2].defined()) bias = contiguous_f32(inputs[2], dev, "matmul", "bias");
  const MatmulPlan p = plan_matmul(a, b, &bias, params);
  Tensor out = empty_f32(p.out_shape, dev);
  if (out.numel() == 0) return {out};
  const float* bias_p = data_f32(bias);
  const int64_t lda = p.trans_a ? p.M : p.K;
  const int64_t ldb = p.trans_b ? p.K : p.N;
  if (p.a_batched && !p.b_batched && !p.trans_a) {
    // Shared weight: the batch's rows form one (batch*M) x K matrix.
    gemm(dev, false, p.trans_b, p.batch * p.M, p.N, p.K, data_f32(a), lda, 0, data_f32(b), ldb, 0, 0.0f,
         data_f32(out), p.N, 0, 1, bias_p);
  } else {
    gemm(dev, p.trans_a, p.trans_b, p.M, p.N, p.K, data_f32(a), lda, p.a_batched ? p.M * p.K : 0, data_f32(b), ldb,
         p.b_batched ? p.K * p.N : 0, 0.0f, data_f32(out), p.N, p.M * p.N, p.batch, bias_p);
  }
  return {out};
}

std::vector<Tensor> matmul_backward(Device dev, const std::vector<Tensor>& inputs,
                                    const std::vector<Tensor>& outputs, const std::vector<Tensor>& saved,
                                    const std::vector<Tensor>& grad_outputs, const OpParams& params) {
  Tensor a = contiguous_f32(inputs[0], dev, "matmul", "a");
  Tensor b = contiguous_f32(inputs[1], dev, "matmul", "b");
  const bool has_bias = inputs.size() > 2 && inputs[2].defined();
  Tensor bias_in = has_bias ? inputs[2] : Tensor();
  const MatmulPlan p = plan_matmul(a, b, has_bias ? &bias_in : nullptr, params);

  std::vector<Tensor> grads(inputs.size());
  Tensor da = zeros_f32(a.shape(), dev);
  Tensor db = zeros_f32(b.shape(), dev);
  Tensor dbias = has_bias ? zeros_f32({p.N}, dev) : Tensor();
  grads[0] = da;
  grads[1] = db;
  if (has_bias) grads[2] = dbias;
  if (grad_outputs.empty() || !grad_outputs[0].defined() || p.batch == 0 || p.M == 0 || p.N == 0) return grads;
  Tensor g = contiguous_f32(grad_outputs[0], dev, "matmul", "grad");
  TS_CHECK_SHAPE(g.shape() == p.out_shape, "matmul: output gradient must be ", shape_str(p.out_shape), ", got ",
                 g.describe());

  const int64_t M = p.M, N = p.N, K = p.K;
  const bool ta = p.trans_a, tb = p.trans_b;
  const int64_t lda = ta ? M : K;  // a stored [M, K] or [K, M]
  const int64_t ldb = tb ? K : N;  // b stored [K, N] or [N, K]
  const float* A = data_f32(a);
  const float* B = data_f32(b);
  const float* G = data_f32(g);
  float* dA = data_f32(da);
  float* dB = data_f32(db);

  if (has_bias) {
    if (dev == Device::CUDA) TS_CUDA("matmul", column_sums, G, p.batch * M, N, data_f32(dbias));
    else column_sums(G, p.batch * M, N, dbias.f32());
  }
  if (K == 0) return grads;

  // Per batch entry, with X stored as given:
  //   !ta: dA [M, K] = G @ op(B)^T         ta: dA [K, M] = op(B) @ G^T
  //   !tb: dB [K, N] = op(A)^T @ G         tb: dB [N, K] = G^T @ op(A)
  auto grad_a = [&](const float* Bp, const float* Gp, float* dAp, float beta) {
    if (!ta)
      gemm(dev, false, !tb, M, K, N, Gp, N, 0, Bp, ldb, 0, beta, dAp, K, 0, 1);
    else
      gemm(dev, tb, true, K, M, N, Bp, ldb, 0, Gp, N, 0, beta, dAp, M, 0, 1);
  };
  auto grad_b = [&](const float* Ap, const float* Gp, float* dBp, float beta) {
    if (!tb)
      gemm(dev, !ta, false, K, N, M, Ap, lda, 0, Gp, N, 0, beta, dBp, N, 0, 1);
    else
      gemm(dev, true, ta, N, K, M, Gp, N, 0, Ap, lda, 0, beta, dBp, K, 0, 1);
  };

  const int64_t sa = M * K, sb = K * N, sg = M * N;
  if (p.a_batched && !p.b_batched && !ta) {
    // Rows of a (and of G) flatten to batch*M: one GEMM each.
    const int64_t R = p.batch * M;
    gemm(dev, false, !tb, R, K, N, G, N, 0, B, ldb, 0, 0.0f, dA, K, 0, 1);
    if (!tb)
      gemm(dev, true, false, K, N, R, A, K, 0, G, N, 0, 0.0f, dB, N, 0, 1);
    else
      gemm(dev, true, false, N, K, R, G, N, 0, A, K, 0, 0.0f, dB, K, 0, 1);
    return grads;
  }
  if (p.a_batched && p.b_batched) {
    // Independent per entry: dA_i from (B_i, G_i), dB_i from (A_i, G_i).
    if (!ta)
      gemm(dev, false, !tb, M, K, N, G, N, sg, B, ldb, sb, 0.0f, dA, K, sa, p.batch);
    else
      gemm(dev, tb, true, K, M, N, B, ldb, sb, G, N, sg, 0.0f, dA, M, sa, p.batch);
    if (!tb)
      gemm(dev, !ta, false, K, N, M, A, lda, sa, G, N, sg, 0.0f, dB, N, sb, p.batch);
    else
      gemm(dev, true, ta, N, K, M, G, N, sg, A, lda, sa, 0.0f, dB, K, sb, p.batch);
    return grads;
  }
  // One side is 2-d and shared: its gradient is accumulated over the batch in order.
  for (int64_t i = 0; i < p.batch; ++i) {
    const float* Ai = A + (p.a_batched ? i * sa : 0);
    const float* Bi = B + (p.b_batched ? i * sb : 0);
    const float* Gi = G + i * sg;
    const float beta_shared = i == 0 ? 0.0f : 1.0f;
    grad_a(Bi, Gi, dA + (p.a_batched ? i * sa : 0), p.a_batched ? 0.0f : beta_shared);
    grad_b(Ai, Gi, dB + (p.b_batched ? i * sb : 0), p.b_batched ? 0.0f : beta_shared);
  }
  return grads;
}

}  // namespace

void register_matmul_ops(OpRegistry& r) {
  OpDef def;
  def.name = "matmul";
  def.min_inputs = 2;
  def.max_inputs = 3;
  set_forward(def, matmul_forward);
  set_backward(def, matmul_backward);
  def.doc =
      "matmul(a [..., M, K] ([..., K, M] if transA), b [..., K, N] ([..., N, K] if transB), bias [N]?; "
      "transA=false, transB=false) -> [..., M, N]; batch dims equal or one side 2-d";
  r.add(def);
}

}  // namespace tessera
