#pragma once
// Mirrors depth_anything_3/model/gsdpt.py (GSDPT): the DPT head of the 3D Gaussians. The same
// stages and fusion chain as DPT, then a different tail: output_conv1 BEFORE the upsampling to
// the image size, the input image's features (images_merger: three 3x3 convs with GELU) added
// to the upsampled map, the UV pos-embed, and output_conv2 giving the raw Gaussian channels
// (linear) and an opacity logit (sigmoid, "raw_gs_conf"). No sky head, no token norm.
#include <array>
#include <vector>

#include "da3/config.hpp"
#include "model/dpt_blocks.hpp"
#include "model/head_output.hpp"
#include "model/utils/head_utils.hpp"
#include "model/weights.hpp"

namespace da3::model {

struct GsHeadOutput {
  Tensor raw_gs;       // (B, S, H, W, output_dim - 1), after `activation` (linear)
  Tensor raw_gs_conf;  // (B, S, H, W), after `conf_activation` (sigmoid)
};

class GSDPT {
 public:
  GSDPT() = default;
  // w scoped at the head ("model.gs_head.").
  GSDPT(const Weights& w, const GsHeadConfig& cfg);

  // feats: the four tapped backbone features, each (B, S, Np, dim_in) f32 (as DPT); images: the
  // network input (B, S, 3, H, W) f32, ImageNet-normalised. `hooks->tap` sees "resize.<k>" and
  // "output_conv1" as DPT's do.
  GsHeadOutput forward(const std::vector<Tensor>& feats, const Tensor& images, int64_t H, int64_t W,
                       const HeadHooks* hooks = nullptr) const;

 private:
  void forward_chunk(const std::vector<Tensor>& feats, const Tensor& images, int64_t v0, int64_t n, int64_t H,
                     int64_t W, HeadOutput& out, const HeadHooks* hooks) const;

  GsHeadConfig cfg_;
  HeadActivation activation_ = HeadActivation::Linear, conf_activation_ = HeadActivation::Sigmoid;
  DptStages stages_;
  std::array<FeatureFusionBlock, 4> refine_;    // scratch.refinenet{1..4}
  nn::Conv2d output_conv1_;                     // 3x3, features -> features/2
  std::array<nn::Conv2d, 3> images_merger_;     // 3x3: 3 -> f/8 -> f/4 -> f/2, each followed by GELU
  nn::Conv2d output_conv2_0_, output_conv2_2_;  // 3x3 -> 32, ReLU, 1x1 -> output_dim
  UvPosEmbed pos_embed_;
};

}  // namespace da3::model
