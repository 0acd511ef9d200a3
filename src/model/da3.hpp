#pragma once
// Mirrors depth_anything_3/model/da3.py: DepthAnything3Net (backbone -> head -> camera, sky) and
// NestedDepthAnything3Net (any-view branch aligned to a metric branch).
#include <memory>
#include <optional>

#include "da3/model.hpp"
#include "model/cam_dec.hpp"
#include "model/cam_enc.hpp"
#include "model/dinov2/vision_transformer.hpp"
#include "model/dpt.hpp"
#include "model/dualdpt.hpp"
#include "model/gs_adapter.hpp"
#include "model/gsdpt.hpp"
#include "model/utils/ray_utils.hpp"

namespace da3::model {

struct NetRequest {
  Tensor extrinsics, intrinsics;  // optional pose conditioning (B, S, 4, 4) / (B, S, 3, 3)
  bool use_ray_pose = false;
  RansacSamples ransac;  // ray pose: hypotheses to replay, or our seeded draw
  RefViewStrategy strategy = RefViewStrategy::SaddleBalanced;
  AttentionOptions attn;
  const BackboneHooks* hooks = nullptr;
  std::vector<int> export_feat_layers;
  bool infer_gs = false;  // run the Gaussian head (an error without one)
};

class DepthAnything3Net {
 public:
  DepthAnything3Net(const Weights& w, const NetConfig& cfg);
  Prediction forward(const Tensor& x, const NetRequest& req, StageTimes* times) const;
  const NetConfig& config() const { return cfg_; }

 private:
  void run_gs_head(const std::vector<Tensor>& feats, const Tensor& x, const NetRequest& req, Prediction& p) const;
  NetConfig cfg_;
  DinoVisionTransformer backbone_;
  std::optional<DualDPT> dualdpt_;
  std::optional<DPT> dpt_;
  std::optional<CameraEnc> cam_enc_;
  std::optional<CameraDec> cam_dec_;
  std::optional<GSDPT> gs_head_;
  std::optional<GaussianAdapter> gs_adapter_;
};

class NestedDepthAnything3Net {
 public:
  NestedDepthAnything3Net(const Weights& w, const ModelConfig& cfg);
  Prediction forward(const Tensor& x, const NetRequest& req, StageTimes* times) const;

 private:
  DepthAnything3Net da3_, metric_;
};

}  // namespace da3::model
