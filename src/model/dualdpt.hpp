#pragma once
// Mirrors depth_anything_3/model/dualdpt.py (DualDPT): the any-view presets' dense head. Token
// LayerNorm, per-stage 1x1 projection + UV pos-embed + resize, one shared set of scratch
// adapters feeding two independent fusion chains: the main one ends in depth + confidence at
// the image size, the auxiliary one in a 6-channel ray map + confidence at the finest fused
// scale. The whole head runs NHWC.
#include <array>
#include <vector>

#include "da3/config.hpp"
#include "model/dpt_blocks.hpp"
#include "model/head_output.hpp"
#include "model/utils/head_utils.hpp"
#include "model/weights.hpp"

namespace da3::model {

class DualDPT {
 public:
  DualDPT() = default;
  // w scoped at the head ("model.head."), cfg.type "DualDPT".
  DualDPT(const Weights& w, const HeadConfig& cfg);

  // feats: the four tapped backbone features, each (B, S, Np, dim_in) f32, patch tokens only,
  // Np = (H / patch)(W / patch). compute_aux: also run the ray branch (needed for use_ray_pose
  // only; with a camera decoder the reference computes it and throws it away).
  // projected: feats are project_feature()'s outputs instead of the tapped tokens.
  HeadOutput forward(const std::vector<Tensor>& feats, int64_t H, int64_t W, bool compute_aux,
                     const HeadHooks* hooks = nullptr, bool projected = false) const;
  // Stage k's input through the token norm and its 1x1 projection, (B, S, ph, pw,
  // out_channels[k]), for a caller that projects each tapped feature as the backbone produces it.
  Tensor project_feature(int k, Tensor&& feat, int64_t H, int64_t W) const;  // normalises feat in place

  const HeadConfig& config() const { return cfg_; }

 private:
  // _forward_impl on views [v0, v0 + n) of the flattened (B·S) batch, writing into `out`.
  void forward_chunk(const std::vector<Tensor>& feats, int64_t v0, int64_t n, int64_t H, int64_t W, bool compute_aux,
                     HeadOutput& out, const HeadHooks* hooks, bool projected) const;

  HeadConfig cfg_;
  HeadActivation activation_ = HeadActivation::Exp, conf_activation_ = HeadActivation::Expp1;
  Tensor norm_w_, norm_b_;                        // norm: LayerNorm(dim_in), eps 1e-5
  DptStages stages_;                              // projects, resize_layers, scratch.layer{1..4}_rn
  std::array<FeatureFusionBlock, 4> refine_;      // scratch.refinenet{1..4}: index 0 is refinenet1
  std::array<FeatureFusionBlock, 4> refine_aux_;  // scratch.refinenet{1..4}_aux
  nn::Conv2d output_conv1_;                       // 3x3, features -> features/2
  nn::Conv2d output_conv2_0_, output_conv2_2_;    // 3x3 -> 32, ReLU, 1x1 -> output_dim
  // The aux head has one pre-head stack and one output stack per pyramid level, but only the
  // last level's result is returned, so only that level's layers are built (the others are
  // bound for strictness and dropped).
  std::vector<nn::Conv2d> aux_out1_;    // scratch.output_conv1_aux[last]: conv chain, no activations
  nn::Conv2d aux_out2_0_, aux_out2_5_;  // scratch.output_conv2_aux[-1]: 3x3 -> 32, LN, ReLU, 1x1 -> 7
  Tensor aux_ln_w_, aux_ln_b_;          // its LayerNorm(32) (one module shared by all levels)
  UvPosEmbed pos_embed_;
};

}  // namespace da3::model
