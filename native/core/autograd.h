// Reverse-mode automatic differentiation over the op table, as a tape.
//
// apply(op, inputs, params) runs the op's forward. When gradients are enabled and
// any input requires a gradient, it appends one entry to the calling thread's
// tape: the op, its params, its input and output variables and the tensors the
// forward saved. backward(loss) seeds d(loss)/d(loss) = 1 and walks the tape in
// reverse, calling each op's backward and summing gradients into the inputs
// (out of place: tensors are never mutated after creation, so a backward may
// return one tensor for several inputs). Intermediate gradients are dropped as
// soon as they have been used; leaves (parameters) keep theirs in .grad().
// The tape is cleared by backward, so each training step records a fresh one.
//
// NoGrad: inside a NoGradGuard nothing is recorded and forwards save nothing,
// so inference allocates nothing for backward.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/op.h"
#include "core/tensor.h"

namespace tessera {

struct VarImpl {
  Tensor value;
  Tensor grad;
  bool requires_grad = false;
  bool is_leaf = true;
};

class Var {
 public:
  Var() = default;
  explicit Var(Tensor value, bool requires_grad = false);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& value() const;
  const Tensor& grad() const;  // undefined until backward reaches this variable
  bool requires_grad() const { return impl_ && impl_->requires_grad; }
  const Shape& shape() const { return value().shape(); }
  void set_value(Tensor t);  // replaces the value (optimizer steps)
  void zero_grad();          // drops the gradient
  const std::shared_ptr<VarImpl>& impl() const { return impl_; }

 private:
  std::shared_ptr<VarImpl> impl_;
};

bool grad_enabled();

class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Runs an op through the tape. Undefined Vars are passed as undefined tensors
// (optional inputs such as a missing bias).
std::vector<Var> apply(const std::string& op, const std::vector<Var>& inputs, const OpParams& params = {});
Var apply1(const std::string& op, const std::vector<Var>& inputs, const OpParams& params = {});

// Backpropagates from a scalar (or, with `seed`, any-shaped) variable and clears the tape.
void backward(const Var& loss, const Tensor& seed = Tensor());

// Number of entries on this thread's tape (tests and memory accounting).
size_t tape_size();
void clear_tape();

}  // namespace tessera
