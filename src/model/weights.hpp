#pragma once
// Binds module parameters by the checkpoint's own key names, strictly: every tensor a module
// asks for must exist with the expected shape, and every tensor in the file must be asked for
// (or be in an ignored subtree, like the Gaussian-splatting head). Problems are collected and
// reported together by finish(), so one run shows everything that is wrong with a checkpoint.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "da3/checkpoint.hpp"

namespace da3::model {

class Weights {
 public:
  explicit Weights(const Checkpoint& ckpt, std::string prefix = "");

  // A scope: child("blocks.3") turns "attn.qkv.weight" into "<prefix>blocks.3.attn.qkv.weight".
  Weights child(const std::string& name) const;
  bool has(const std::string& name) const;
  // The tensor converted to f32 (a zero-copy view when the file already holds f32). `shape`
  // empty means "any shape". A missing or mis-shaped tensor is recorded and a zero tensor of
  // the expected shape returned, so binding continues and all problems are listed at once.
  Tensor get(const std::string& name, const Shape& shape = {}) const;
  // The same, but in the file's own dtype (F32, F16 or BF16): a view of the mapping, never a
  // copy. For layers that convert into their own layout later (convolutions pack on first use):
  // an F16 checkpoint then costs no resident F32 copy.
  Tensor get_stored(const std::string& name, const Shape& shape = {}) const;
  // Marks every stored tensor under this scope as deliberately unused.
  void ignore_subtree(const std::string& name) const;
  // Throws da3::Error listing missing, mis-shaped and unused tensors, if any.
  void finish() const;
  const std::string& prefix() const { return prefix_; }
  // The dtype the backbone's matmuls compute in (the model's precision: F32 or BF16). Shared by
  // every scope of one checkpoint; modules that must stay f32 (camera decoder, heads' last
  // layers) simply do not ask.
  void set_matmul_dtype(DType t) { state_->matmul_dtype = t; }
  DType matmul_dtype() const { return state_->matmul_dtype; }
  // The dtype the heads' convolutions compute in: F32 (as the reference), BF16 only with
  // --precision bf16, DA3_HEAD_BF16=1 and AMX (model_api.cpp says why). The heads' last layers
  // (the 1x1 convolutions that produce the outputs) stay f32 either way (bind_output_conv2d).
  void set_conv_dtype(DType t) { state_->conv_dtype = t; }
  DType conv_dtype() const { return state_->conv_dtype; }
  // The dtype the heads' convolutions hold their Winograd-transformed weights in: F16 under
  // --precision bf16 (half their memory; products still f32 unless conv_dtype says otherwise).
  void set_conv_storage_dtype(DType t) { state_->conv_storage_dtype = t; }
  DType conv_storage_dtype() const { return state_->conv_storage_dtype; }

 private:
  struct State {
    const Checkpoint* ckpt;
    std::set<std::string> used;
    std::vector<std::string> missing;
    std::vector<std::string> mismatched;
    DType matmul_dtype = DType::F32;
    DType conv_dtype = DType::F32;
    DType conv_storage_dtype = DType::F32;
  };
  Weights(std::shared_ptr<State> s, std::string prefix) : state_(std::move(s)), prefix_(std::move(prefix)) {}
  std::shared_ptr<State> state_;
  std::string prefix_;
};

}  // namespace da3::model
