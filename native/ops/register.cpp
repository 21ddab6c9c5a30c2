// Fills the op table: one register function per op family (see docs/OPS.md).
#include "core/op.h"

namespace tessera {

void register_matmul_ops(OpRegistry& r);
void register_conv3d_ops(OpRegistry& r);
void register_attention_ops(OpRegistry& r);
void register_elementwise_ops(OpRegistry& r);
void register_activation_ops(OpRegistry& r);
void register_softmax_ops(OpRegistry& r);
void register_norm_ops(OpRegistry& r);
void register_loss_ops(OpRegistry& r);
void register_reduce_ops(OpRegistry& r);
void register_shape_ops(OpRegistry& r);
void register_resample_ops(OpRegistry& r);
void register_random_ops(OpRegistry& r);
void register_optim_ops(OpRegistry& r);
void register_rope_ops(OpRegistry& r);

void register_all_ops(OpRegistry& r) {
  register_matmul_ops(r);
  register_conv3d_ops(r);
  register_attention_ops(r);
  register_elementwise_ops(r);
  register_activation_ops(r);
  register_softmax_ops(r);
  register_norm_ops(r);
  register_loss_ops(r);
  register_reduce_ops(r);
  register_shape_ops(r);
  register_resample_ops(r);
  register_random_ops(r);
  register_optim_ops(r);
  register_rope_ops(r);
}

}  // namespace tessera
