#pragma once
// The public model API: load a Hugging Face DA3 model directory as published and run the raw
// network on preprocessed views. (Images in / files out is the pipeline's job: da3/pipeline.hpp.)
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "da3/attention.hpp"
#include "da3/config.hpp"
#include "da3/tensor.hpp"

namespace da3 {

enum class Precision { F32, BF16 };

// What the depth heads compute in under Precision::BF16 on this machine, in words (for
// `da3 info`): fp32 as the reference, or bf16 convolutions where DA3_HEAD_BF16=1 and AMX allow.
std::string bf16_heads_description();

struct ModelOptions {
  // CUDA: the ViT backbone (patch embedding, blocks, norms, attention) and the camera decoder run
  // on GPU cuda:<device_index>, weights uploaded on first use; the depth heads still run on the
  // CPU (issue 15). Every output is a CPU tensor.
  Device device = Device::CPU;
  int device_index = 0;
  int threads = 0;  // 0: leave the process setting (DA3_NUM_THREADS or all cores)
  AttentionBackend attention_backend = AttentionBackend::Auto;  // per model; env and auto otherwise
  Precision precision = Precision::F32;
};

struct ForwardOptions {
  Tensor extrinsics;  // optional (1, N, 4, 4) world-to-camera: pose-conditioned depth
  Tensor intrinsics;  // optional (1, N, 3, 3) in pixels (needed with extrinsics)
  bool use_ray_pose = false;                      // poses from the ray head instead of the camera decoder
  // Ray pose only: RANSAC hypotheses to replay, (num, 8) int64 (parity tests against the
  // reference's recorded draw); undefined = our seeded draw (docs/ray_pose.md).
  Tensor ransac_sample_idx;
  uint64_t ransac_seed = 0;
  std::string ref_view_strategy = "saddle_balanced";  // first | middle | saddle_balanced | saddle_sim_range
  AttentionBackend attention_backend = AttentionBackend::Auto;  // per call (wins over the model's)
  // Backbone layers (0-based block indices) whose features to return in Prediction::aux, as the
  // reference's export_feat_layers.
  std::vector<int> export_feat_layers;
  // Run the 3D Gaussian head (da3-giant, da3nested-giant-large; an error for models without
  // one): fills Prediction::gs_*, the reference's infer_gs=True.
  bool infer_gs = false;
};

struct Prediction {
  Tensor depth;        // (1, N, H, W)
  Tensor depth_conf;   // (1, N, H, W)
  Tensor extrinsics;   // (1, N, 3, 4) world-to-camera (any-view presets)
  Tensor intrinsics;   // (1, N, 3, 3) pixels
  Tensor sky;          // (1, N, H, W) (mono / metric presets)
  bool is_metric = false;
  float scale_factor = 1.f;        // nested presets: metric scale applied to depth and translations
  std::vector<int64_t> ref_view;   // reference view chosen (>= 3 views, no poses given)
  // Requested backbone features, "feat_layer_<i>" -> (1, N, H/14, W/14, C): the tokens after
  // block i through the backbone's final norm, patches only. As in the reference, with 3+ views
  // (no poses) these are in the backbone's reference-first view order when i comes after the
  // reference-view selection (see ref_view), unlike every other output.
  std::map<std::string, Tensor> aux;
  // infer_gs: the reference's world-space Gaussians, G = N·H·W (one per pixel, views in order):
  // means (1, G, 3), scales (1, G, 3), rotations (1, G, 4) (the reference's world_quat_wxyz
  // as it computes it: mat_to_quat's component order, last component >= 0), harmonics (1, G, 3, d_sh) (d_sh = 9 for sh_degree 2), opacities (1, G).
  // Nested presets: computed by the any-view branch, before the metric scaling.
  Tensor gs_means, gs_scales, gs_rotations, gs_harmonics, gs_opacities;
  // The aux features that are in that reference-first order (ref_view[0] first, then the
  // others in input order); the rest are in input order.
  std::vector<std::string> aux_reference_first;
  // Named tensors under the reference's output names (depth, depth_conf, extrinsics, ...).
  std::map<std::string, Tensor> named() const;
};

struct StageTimes {
  double backbone_ms = 0, head_ms = 0, camera_ms = 0, other_ms = 0;
  double patch_embed_ms = 0;  // the part of backbone_ms spent in the patch embedding (+ pos-embed)
};

class Model {
 public:
  // Loads config.json + model.safetensors from `dir`; strict: any missing, unexpected or
  // mis-shaped tensor is one da3::Error listing them.
  static Model load(const std::string& dir, const ModelOptions& options = {});
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  // image: (1, N, 3, H, W) f32, ImageNet-normalised, H and W multiples of 14.
  Prediction forward(const Tensor& image, const ForwardOptions& options = {}) const;

  const ModelConfig& config() const;
  const std::string& dir() const;
  size_t checkpoint_bytes() const;
  StageTimes last_stage_times() const;  // of the latest forward(), for benchmarks

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace da3
