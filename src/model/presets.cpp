// The seven published presets, transcribed from the reference's configs/*.yaml and the ViT size
// functions of model/dinov2/vision_transformer.py (vit_small/base/large/giant2).
#include <map>

#include "da3/config.hpp"
#include "da3/error.hpp"

namespace da3 {

namespace {

BackboneConfig vit(const std::string& name, std::vector<int> out_layers, int alt_start, bool cat_token) {
  BackboneConfig b;
  b.name = name;
  if (name == "vits") { b.embed_dim = 384; b.depth = 12; b.num_heads = 6; }
  if (name == "vitb") { b.embed_dim = 768; b.depth = 12; b.num_heads = 12; }
  if (name == "vitl") { b.embed_dim = 1024; b.depth = 24; b.num_heads = 16; }
  if (name == "vitg") { b.embed_dim = 1536; b.depth = 40; b.num_heads = 24; b.ffn_layer = "swiglufused"; }
  b.out_layers = std::move(out_layers);
  // Every preset starts alternating attention, QK-norm and RoPE at the same block.
  b.alt_start = b.qknorm_start = b.rope_start = alt_start;
  b.cat_token = cat_token;
  return b;
}

NetConfig anyview(const std::string& vit_name, std::vector<int> out_layers, int alt_start, int head_dim_in,
                  int features, std::vector<int> out_channels, int cam_dim) {
  NetConfig n;
  n.backbone = vit(vit_name, std::move(out_layers), alt_start, true);
  n.head.type = "DualDPT";
  n.head.dim_in = head_dim_in;
  n.head.output_dim = 2;
  n.head.features = features;
  n.head.out_channels = std::move(out_channels);
  n.head.pos_embed = true;
  n.cam_enc = CameraEncConfig{};
  n.cam_enc->dim_out = cam_dim;
  n.cam_dec = CameraDecConfig{head_dim_in};
  return n;
}

NetConfig mono_large() {
  NetConfig n;
  n.backbone = vit("vitl", {4, 11, 17, 23}, -1, false);
  n.head.type = "DPT";
  n.head.dim_in = 1024;
  n.head.output_dim = 1;
  n.head.features = 256;
  n.head.out_channels = {256, 512, 1024, 1024};
  n.head.pos_embed = false;
  return n;
}

const std::map<std::string, ModelConfig>& registry() {
  static const std::map<std::string, ModelConfig> r = [] {
    std::map<std::string, ModelConfig> m;
    auto add = [&](const std::string& name, NetConfig net, std::optional<NetConfig> metric = std::nullopt) {
      m[name] = ModelConfig{name, std::move(net), std::move(metric)};
    };
    add("da3-small", anyview("vits", {5, 7, 9, 11}, 4, 768, 64, {48, 96, 192, 384}, 384));
    add("da3-base", anyview("vitb", {5, 7, 9, 11}, 4, 1536, 128, {96, 192, 384, 768}, 768));
    add("da3-large", anyview("vitl", {11, 15, 19, 23}, 8, 2048, 256, {256, 512, 1024, 1024}, 1024));
    NetConfig giant = anyview("vitg", {19, 27, 33, 39}, 13, 3072, 256, {256, 512, 1024, 1024}, 1536);
    giant.has_gs_head = true;
    // configs/da3-giant.yaml gs_head (GSDPT, sizes of the main head) and gs_adapter
    giant.gs_head = GsHeadConfig{};
    giant.gs_head->dim_in = 3072;
    giant.gs_head->output_dim = 38;
    giant.gs_head->features = 256;
    giant.gs_head->out_channels = {256, 512, 1024, 1024};
    giant.gs_adapter = GsAdapterConfig{};
    giant.gs_adapter->sh_degree = 2;
    giant.gs_adapter->pred_offset_depth = true;
    giant.gs_adapter->pred_offset_xy = true;
    add("da3-giant", giant);
    add("da3mono-large", mono_large());
    add("da3metric-large", mono_large());
    add("da3nested-giant-large", giant, mono_large());
    return m;
  }();
  return r;
}

}  // namespace

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = {"da3-small",     "da3-base",        "da3-large",
                                                 "da3-giant",     "da3mono-large",   "da3metric-large",
                                                 "da3nested-giant-large"};
  return names;
}

ModelConfig preset_config(const std::string& name) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown DA3 preset '" + name + "'; known presets: " + known +
                " (or spell the architecture out under \"architecture\" in config.json, see docs/checkpoints.md)");
  }
  return it->second;
}

}  // namespace da3
