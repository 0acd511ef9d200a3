#pragma once
// Mirrors depth_anything_3/model/dinov2/layers/attention.py (Attention).
#include "da3/attention.hpp"
#include "model/weights.hpp"
#include "nn/linear.hpp"

namespace da3::model {

class Attention {
 public:
  Attention() = default;
  // proj_scale: a LayerScale applied to the output projection, folded into its weights.
  Attention(const Weights& w, int64_t dim, int num_heads, bool qk_norm, bool rope, float rope_freq,
            const Tensor& proj_scale = Tensor());

  // x: (B, N, C). pos: (N, 2) or (B, N, 2) token positions, or undefined (no RoPE). The output
  // projection's epilogue lets the caller fuse LayerScale and the residual add.
  Tensor forward(const Tensor& x, const Tensor& pos, const AttentionOptions& attn,
                 const nn::LinearEpilogue& proj_epilogue = {}) const;
  // The same with x handed over (nothing else may view it): its buffer takes the attention output.
  Tensor forward(Tensor&& x, const Tensor& pos, const AttentionOptions& attn,
                 const nn::LinearEpilogue& proj_epilogue = {}) const;

 private:
  Tensor run(Tensor x, bool x_is_ours, const Tensor& pos, const AttentionOptions& attn,
             const nn::LinearEpilogue& proj_epilogue) const;
  int num_heads_ = 0;
  int64_t dim_ = 0;
  bool qk_norm_ = false, rope_ = false;
  float rope_freq_ = 100.f;
  nn::Linear qkv_, proj_;
  Tensor q_norm_w_, q_norm_b_, k_norm_w_, k_norm_b_;
};

}  // namespace da3::model
