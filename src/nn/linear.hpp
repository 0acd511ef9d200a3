#pragma once
// nn.Linear: y = x·Wᵀ + b over the last dimension, through a oneDNN matmul reading the weights
// in its own blocked layout, packed on the first CPU forward from where they are (the mapped
// checkpoint when it holds f32, whose pages are then dropped: one resident copy). Optional fused
// epilogue, applied in this order: activation, per-channel scale (LayerScale), then accumulate
// into an existing tensor (residual add) instead of writing a new one.
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "da3/tensor.hpp"

namespace da3::nn {

enum class Activation { None, Gelu, Relu };

struct LinearEpilogue {
  Activation act = Activation::None;
  const Tensor* scale = nullptr;  // (out,) multiplied after the activation
  Tensor* accumulate = nullptr;   // (..., out): result is added into this tensor and returned
  // The result's dtype: F32, or BF16 on a bf16 layer whose output only feeds another bf16
  // matmul (half the traffic, no conversion pass there). Not with accumulate (the residual
  // stream stays f32).
  DType out = DType::F32;
};

class Linear {
 public:
  Linear() = default;
  // weight (out, in) and bias (out,) or undefined, any float dtype (converted once to f32; a
  // contiguous f32 weight is used in place, and must outlive the layer: Tensor views do).
  // fold_scale (out,): a per-output-channel factor folded into weight and bias at load, e.g. a
  // LayerScale that follows the layer (γ·(Wx + b) = (γ⊙W)x + γ⊙b): no extra pass at run time.
  // precision: F32, or BF16 (CPU only): the weight is rounded once to an owned bf16 copy (after
  // folding) and inputs to bf16 per call; products accumulate in f32 (oneDNN), bias and
  // epilogue in f32. Where this CPU's bf16 products are slower than its fp32 FMAs
  // (cpu_bf16_support(): WeightsOnly), a BF16 layer keeps the bf16 weight but widens it to f32
  // per call and computes in f32: compute_dtype() is then F32, storage_dtype() BF16.
  Linear(const Tensor& weight, const Tensor& bias, std::string name = "linear", const Tensor& fold_scale = Tensor(),
         DType precision = DType::F32);

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  bool defined() const { return in_ > 0; }

  DType compute_dtype() const { return compute_; }  // what the products run in
  DType storage_dtype() const { return storage_; }  // what the resident weight is held in

  // x: (..., in) f32 (or bf16 on a bf16 layer), any leading dims. Returns (..., out) in ep.out.
  Tensor forward(const Tensor& x, const LinearEpilogue& ep = {}) const;

 private:
  struct Impl;
  void pack_weight_locked() const;
  void pack_weight(const Tensor& w) const;
  Tensor plain_weight_locked() const;
  void narrow_packed_weight() const;
  Tensor widened_weight() const;
  std::shared_ptr<Impl> impl_;
  int64_t in_ = 0, out_ = 0;
  DType compute_ = DType::F32;
  DType storage_ = DType::F32;
  std::string name_;
};

}  // namespace da3::nn
