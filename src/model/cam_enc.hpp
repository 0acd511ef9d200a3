#pragma once
// Mirrors depth_anything_3/model/cam_enc.py (CameraEnc): user-given poses -> camera tokens.
#include <vector>

#include "da3/config.hpp"
#include "model/dinov2/block.hpp"

namespace da3::model {

class CameraEnc {
 public:
  CameraEnc() = default;
  CameraEnc(const Weights& w, const CameraEncConfig& cfg);

  // extrinsics (B, S, 4, 4) world-to-camera, intrinsics (B, S, 3, 3) in pixels, image size ->
  // tokens (B, S, dim_out).
  Tensor forward(const Tensor& extrinsics, const Tensor& intrinsics, int64_t h, int64_t w,
                 const AttentionOptions& attn) const;

 private:
  CameraEncConfig cfg_;
  nn::Linear fc1_, fc2_;  // pose_branch (Mlp)
  Tensor token_norm_w_, token_norm_b_, trunk_norm_w_, trunk_norm_b_;
  std::vector<Block> trunk_;
};

}  // namespace da3::model
