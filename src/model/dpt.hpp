#pragma once
// Mirrors depth_anything_3/model/dpt.py (DPT): the mono / metric presets' dense head. Per-stage
// 1x1 projection (+ optional UV pos-embed) and resize, scratch adapters, one fusion chain,
// output_conv1, upsampling to the image size, then the main head (depth, and a confidence
// when output_dim > 1) and the optional one-channel sky head. The whole head runs NHWC.
#include <array>
#include <vector>

#include "da3/config.hpp"
#include "model/dpt_blocks.hpp"
#include "model/head_output.hpp"
#include "model/utils/head_utils.hpp"
#include "model/weights.hpp"

namespace da3::model {

class DPT {
 public:
  DPT() = default;
  // w scoped at the head ("model.head."), cfg.type "DPT".
  DPT(const Weights& w, const HeadConfig& cfg);

  // feats: the four tapped backbone features, each (B, S, Np, dim_in) f32, patch tokens only,
  // Np = (H / patch)(W / patch). DPT has no aux branch; compute_aux is accepted for a common
  // call signature and ignored.
  // projected: feats are project_feature()'s outputs instead of the tapped tokens.
  HeadOutput forward(const std::vector<Tensor>& feats, int64_t H, int64_t W, bool compute_aux = false,
                     const HeadHooks* hooks = nullptr, bool projected = false) const;
  // Stage k's input through its 1x1 projection, (B, S, ph, pw, out_channels[k]), for a caller that
  // projects each tapped feature as the backbone produces it (a quarter of the memory or less).
  Tensor project_feature(int k, const Tensor& feat, int64_t H, int64_t W) const;

  const HeadConfig& config() const { return cfg_; }

 private:
  void forward_chunk(const std::vector<Tensor>& feats, int64_t v0, int64_t n, int64_t H, int64_t W, HeadOutput& out,
                     const HeadHooks* hooks, bool projected) const;

  HeadConfig cfg_;
  HeadActivation activation_ = HeadActivation::Exp, conf_activation_ = HeadActivation::Expp1;
  HeadActivation sky_activation_ = HeadActivation::Relu;
  // norm_type "idt" (the only one the presets use): no token LayerNorm.
  DptStages stages_;                                    // projects, resize_layers, scratch.layer{1..4}_rn
  std::array<FeatureFusionBlock, 4> refine_;            // scratch.refinenet{1..4}: index 0 is refinenet1
  nn::Conv2d output_conv1_;                             // 3x3, features -> features/2
  nn::Conv2d output_conv2_0_, output_conv2_2_;          // 3x3 -> 32, ReLU, 1x1 -> output_dim
  nn::Conv2d sky_output_conv2_0_, sky_output_conv2_2_;  // 3x3 -> 32, ReLU, 1x1 -> 1
  UvPosEmbed pos_embed_;
};

}  // namespace da3::model
