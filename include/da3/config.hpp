#pragma once
// The architecture of a DA3 network, as data. The seven published presets are entries of a
// registry (src/model/presets.cpp) with the numbers of the reference's configs/*.yaml; a
// config.json may also spell the architecture out under "architecture" (our extension, see
// docs/checkpoints.md), which is how tests load tiny models and new variants load without a rebuild.
#include <optional>
#include <string>
#include <vector>

namespace da3 {

struct BackboneConfig {        // model/dinov2/dinov2.py + vision_transformer.py
  std::string name;            // vits | vitb | vitl | vitg | custom
  int embed_dim = 0;
  int depth = 0;
  int num_heads = 0;
  double mlp_ratio = 4.0;
  std::string ffn_layer = "mlp";  // mlp | swiglufused
  int patch_size = 14;
  int img_size = 518;             // the grid pos_embed was trained on
  std::vector<int> out_layers;
  int alt_start = -1;             // -1: no camera token / alternating attention
  int qknorm_start = -1;
  int rope_start = -1;
  double rope_freq = 100.0;
  bool cat_token = true;
  double interpolate_offset = 0.1;
};

struct HeadConfig {            // model/dualdpt.py (DualDPT) or model/dpt.py (DPT)
  std::string type;            // DualDPT | DPT
  int dim_in = 0;
  int output_dim = 0;
  int features = 0;
  std::vector<int> out_channels;
  int patch_size = 14;
  std::string activation = "exp";
  std::string conf_activation = "expp1";
  bool pos_embed = false;      // DualDPT default true, DPT default false
  int down_ratio = 1;
  // DPT only
  bool use_sky_head = true;
  std::string sky_activation = "relu";
  // DualDPT only
  int aux_pyramid_levels = 4;
  int aux_out1_conv_num = 5;
};

struct CameraEncConfig {       // model/cam_enc.py
  int dim_out = 0;
  int dim_in = 9;
  int trunk_depth = 4;
  int target_dim = 9;
  int num_heads = 16;
  double mlp_ratio = 4.0;
  double init_values = 0.01;
};

struct CameraDecConfig {       // model/cam_dec.py
  int dim_in = 0;
};

struct GsHeadConfig {          // model/gsdpt.py GSDPT (a DPT with an image merger and no sky head)
  int dim_in = 0;
  int output_dim = 0;          // GaussianAdapter d_in + 1 (the opacity logit)
  int features = 0;
  std::vector<int> out_channels;
  int patch_size = 14;
  std::string activation = "linear";
  std::string conf_activation = "sigmoid";
  bool pos_embed = true;
  int down_ratio = 1;
};

struct GsAdapterConfig {       // model/gs_adapter.py GaussianAdapter
  int sh_degree = 0;
  bool pred_color = false;
  bool pred_offset_depth = false;
  bool pred_offset_xy = true;
  double gaussian_scale_min = 1e-5;
  double gaussian_scale_max = 30.0;
  int d_sh() const { return pred_color ? 1 : (sh_degree + 1) * (sh_degree + 1); }
  // Channels of the raw Gaussians: [offset_xy(2)], scales(3), quaternion(4), colour(3·d_sh), [depth offset(1)].
  int d_in() const { return (pred_offset_xy ? 2 : 0) + 3 + 4 + 3 * d_sh() + (pred_offset_depth ? 1 : 0); }
};

struct NetConfig {             // model/da3.py DepthAnything3Net
  BackboneConfig backbone;
  HeadConfig head;
  std::optional<CameraEncConfig> cam_enc;
  std::optional<CameraDecConfig> cam_dec;
  bool has_gs_head = false;    // the checkpoint has gs_head weights (run when gs_head/gs_adapter are known)
  std::optional<GsHeadConfig> gs_head;        // run on request (ForwardOptions::infer_gs)
  std::optional<GsAdapterConfig> gs_adapter;
};

struct ModelConfig {
  std::string model_name;      // e.g. "da3-small"; "custom" when spelled out
  NetConfig net;               // the any-view network (or the only one)
  std::optional<NetConfig> metric;  // nested presets: the metric branch (da3_metric)
  bool nested() const { return metric.has_value(); }
};

// The known preset names, in a stable order.
const std::vector<std::string>& preset_names();
// The preset's config; throws da3::Error listing the known names for an unknown one.
ModelConfig preset_config(const std::string& name);
// Parses a config.json text: "architecture" when present, else the preset named by "model_name".
ModelConfig parse_model_config(const std::string& config_json, const std::string& source = "config.json");

}  // namespace da3
