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

struct NetConfig {             // model/da3.py DepthAnything3Net
  BackboneConfig backbone;
  HeadConfig head;
  std::optional<CameraEncConfig> cam_enc;
  std::optional<CameraDecConfig> cam_dec;
  bool has_gs_head = false;    // weights present in the checkpoint, not run (out of scope)
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
