#pragma once
// Mirrors depth_anything_3/model/dinov2/vision_transformer.py (DinoVisionTransformer, as DA3 uses
// it through DinoV2.forward = get_intermediate_layers): patch embedding, cls / camera tokens,
// interpolated position embedding, blocks with alternating local (per view) and global
// (cross-view) attention from alt_start, RoPE from rope_start, QK-norm from qknorm_start, and
// the out_layers taps.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "da3/config.hpp"
#include "model/dinov2/block.hpp"
#include "model/reference_view_selector.hpp"

namespace da3::model {

struct BackboneOutput {
  // Per tapped layer: features (B, S, Np, C or 2C) as the head reads them (cat_token: local ⊕
  // norm(global); else norm(x)), and the un-normalised token 0 (B, S, C or 2C).
  std::vector<Tensor> features;
  std::vector<Tensor> camera_tokens;
  std::vector<int64_t> ref_view;  // per batch item, when reference-view selection ran
  double patch_embed_ms = 0;      // time of the patch embedding (+ position embedding), for benchmarks
  // One per requested export layer, in request order: (B, S, gh, gw, C), final norm applied,
  // patch tokens only, in the blocks' view order (the reference does not restore it for these).
  std::vector<Tensor> exported;
  std::vector<bool> exported_reordered;  // per export layer: taken after the reference-first reorder
};

struct BackboneHooks {
  // Optional debugging taps, by name: "patch_embed" (tokens after pos-embed), "block.<i>".
  std::function<void(const std::string&, const Tensor&)> tap;
};

class DinoVisionTransformer {
 public:
  DinoVisionTransformer() = default;
  DinoVisionTransformer(const Weights& w, const BackboneConfig& cfg);

  // x: (B, S, 3, H, W) normalised images, H and W multiples of the patch size. cam_token:
  // (B, S, C) tokens from the camera encoder, or undefined.
  // feature_sink, when set, receives each tapped head feature (k = 0..3, as `features` would
  // hold it) the moment it is made, and what it returns is stored instead: a head can project it
  // at once, so the full-width features of every view never exist together. The feature is the
  // sink's own (nothing else views it): it may normalise it in place.
  BackboneOutput forward(const Tensor& x, const Tensor& cam_token, RefViewStrategy strategy,
                         const AttentionOptions& attn, const BackboneHooks* hooks = nullptr,
                         const std::vector<int>& export_layers = {},
                         const std::function<Tensor(int k, Tensor feature)>& feature_sink = {}) const;

  const BackboneConfig& config() const { return cfg_; }

 private:
  Tensor prepare_tokens(const Tensor& x) const;  // (B*S, 1 + Np, C)
  Tensor interpolate_pos_encoding(int64_t gh, int64_t gw) const;
  // The resampled position embedding depends only on the patch grid: computed once per (gh, gw).
  const Tensor& pos_encoding_for(int64_t gh, int64_t gw) const;

  BackboneConfig cfg_;
  nn::Linear patch_proj_;  // the 14x14 stride-14 conv as a matmul over flattened patches
  Tensor cls_token_, camera_token_, pos_embed_;
  std::vector<Block> blocks_;
  Tensor norm_w_, norm_b_;
  struct PosCache {
    std::mutex mu;
    std::map<std::pair<int64_t, int64_t>, Tensor> by_grid;
  };
  std::shared_ptr<PosCache> pos_cache_ = std::make_shared<PosCache>();
};

}  // namespace da3::model
