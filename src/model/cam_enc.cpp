#include "model/cam_enc.hpp"

#include "model/utils/transform.hpp"
#include "nn/norm.hpp"

namespace da3::model {

namespace {
constexpr float kNormEps = 1e-5f;  // nn.LayerNorm defaults throughout cam_enc.py
}

CameraEnc::CameraEnc(const Weights& w, const CameraEncConfig& cfg) : cfg_(cfg) {
  const int64_t d = cfg.dim_out, hidden = cfg.dim_out / 2;
  const Weights pb = w.child("pose_branch");
  fc1_ = nn::Linear(pb.get("fc1.weight", {hidden, cfg.dim_in}), pb.get("fc1.bias", {hidden}), pb.prefix() + "fc1");
  fc2_ = nn::Linear(pb.get("fc2.weight", {d, hidden}), pb.get("fc2.bias", {d}), pb.prefix() + "fc2");
  token_norm_w_ = w.get("token_norm.weight", {d});
  token_norm_b_ = w.get("token_norm.bias", {d});
  trunk_norm_w_ = w.get("trunk_norm.weight", {d});
  trunk_norm_b_ = w.get("trunk_norm.bias", {d});
  for (int i = 0; i < cfg.trunk_depth; ++i)
    trunk_.emplace_back(w.child("trunk." + std::to_string(i)), d, cfg.num_heads, cfg.mlp_ratio, "mlp", false, false,
                        100.f, kNormEps, /*fold_layer_scale=*/false);  // used only with known poses
}

Tensor CameraEnc::forward(const Tensor& extrinsics, const Tensor& intrinsics, int64_t h, int64_t w,
                          const AttentionOptions& attn) const {
  const Tensor enc = extri_intri_to_pose_encoding(affine_inverse(extrinsics), intrinsics, h, w);  // (B, S, 9)
  Tensor t = fc2_.forward(fc1_.forward(enc, {nn::Activation::Gelu}));
  t = nn::layer_norm(t, token_norm_w_, token_norm_b_, kNormEps);
  // The trunk attends across the S views of each batch item (tokens = views).
  for (const Block& b : trunk_) b.forward(t, Tensor(), attn);
  return nn::layer_norm(t, trunk_norm_w_, trunk_norm_b_, kNormEps);
}

}  // namespace da3::model
