#pragma once
// Mirrors depth_anything_3/model/dinov2/layers/block.py (Block) with its Mlp / SwiGLUFFNFused
// and LayerScale (inference path: no drop-path).
#include "model/dinov2/attention.hpp"

namespace da3::model {

class Block {
 public:
  Block() = default;
  // norm_eps: 1e-6 for the DINOv2 blocks (Block(ln_eps=1e-6)); 1e-5 (nn.LayerNorm's default) for
  // model/utils/block.py's Block, the camera encoder's trunk, which has the same parameters.
  // fold_layer_scale: LayerScale folded into attn.proj / the last FFN layer at load (an owned
  // scaled copy of each; no extra pass per call), or applied per call to weights read in place
  // from the checkpoint (no copy: for blocks that run rarely or never, like the camera encoder's).
  Block(const Weights& w, int64_t dim, int num_heads, double mlp_ratio, const std::string& ffn_layer, bool qk_norm,
        bool rope, float rope_freq, float norm_eps = 1e-6f, bool fold_layer_scale = true);

  // x = x + ls1(attn(norm1(x))); x = x + ls2(mlp(norm2(x))), in place on x (B, N, C).
  void forward(Tensor& x, const Tensor& pos, const AttentionOptions& attn) const;

 private:
  float norm_eps_ = 1e-6f;
  Tensor norm1_w_, norm1_b_, norm2_w_, norm2_b_;
  Tensor ls1_, ls2_;  // f32, only when not folded
  Attention attn_;
  bool swiglu_ = false;
  nn::Linear fc1_, fc2_;  // Mlp: fc1, fc2; SwiGLU: w12, w3
};

}  // namespace da3::model
