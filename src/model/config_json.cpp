// config.json -> ModelConfig. Published checkpoints name a preset ("model_name"); ours may spell
// the architecture out under "architecture", laid out like the reference's yaml configs.
#include <climits>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "da3/config.hpp"
#include "da3/error.hpp"

namespace da3 {

namespace {

using json = nlohmann::json;

constexpr int kMaxSize = 1 << 20;   // channels, pixels: a bound no real model approaches
constexpr int kMaxDepth = 4096;     // blocks, layers, heads

class Reader {
 public:
  Reader(const json& j, std::string where) : j_(j), where_(std::move(where)) {
    if (!j_.is_object()) fail("must be an object");
  }
  ~Reader() = default;

  template <class T>
  void opt(const char* key, T& out) {
    seen_.insert(key);
    if (!j_.contains(key)) return;
    read(key, j_.at(key), out);
  }
  template <class T>
  void req(const char* key, T& out) {
    if (!j_.contains(key)) fail(std::string("missing required key '") + key + "'");
    opt(key, out);
  }
  const json* sub(const char* key) {
    seen_.insert(key);
    return j_.contains(key) && !j_.at(key).is_null() ? &j_.at(key) : nullptr;
  }
  // Unknown keys are an error: a misspelt architecture field must not be silently ignored.
  void finish() const {
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (!seen_.count(it.key())) {
        std::string known;
        for (const auto& k : seen_) known += (known.empty() ? "" : ", ") + k;
        fail("unknown key '" + it.key() + "' (known: " + known + ")");
      }
  }
  [[noreturn]] void fail(const std::string& what) const { throw Error(where_ + ": " + what); }

 private:
  // nlohmann's get<int>() truncates 384.9 to 384, wraps 4294967308 to 12 and converts 6e28
  // with undefined behaviour: numbers are read strictly here, an integer field only from an
  // integral JSON number in the int range.
  void read(const std::string& key, const json& v, int& out) const {
    const std::string name = "'" + key + "'";
    if (v.is_number_integer()) {
      const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t(INT_MAX)
                                                   : v.get<int64_t>() >= INT_MIN && v.get<int64_t>() <= INT_MAX;
      if (!in_range) fail(name + " is " + v.dump() + ", outside the range of an integer");
      out = static_cast<int>(v.get<int64_t>());
      return;
    }
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && d == std::trunc(d) && d >= INT_MIN && d <= INT_MAX) {
        out = static_cast<int>(d);
        return;
      }
      fail(name + " must be an integer, got " + v.dump());
    }
    fail(name + " has the wrong type (" + v.dump() + "); it must be an integer");
  }
  void read(const std::string& key, const json& v, double& out) const {
    if (!v.is_number() || !std::isfinite(v.get<double>()))
      fail("'" + key + "' has the wrong type (" + v.dump() + "); it must be a finite number");
    out = v.get<double>();
  }
  void read(const std::string& key, const json& v, bool& out) const {
    if (!v.is_boolean()) fail("'" + key + "' has the wrong type (" + v.dump() + "); it must be true or false");
    out = v.get<bool>();
  }
  void read(const std::string& key, const json& v, std::string& out) const {
    if (!v.is_string()) fail("'" + key + "' has the wrong type (" + v.dump() + "); it must be a string");
    out = v.get<std::string>();
  }
  void read(const std::string& key, const json& v, std::vector<int>& out) const {
    if (!v.is_array()) fail("'" + key + "' has the wrong type (" + v.dump() + "); it must be a list of integers");
    out.clear();
    for (size_t i = 0; i < v.size(); ++i) {
      int x = 0;
      read(key + "[" + std::to_string(i) + "]", v[i], x);
      out.push_back(x);
    }
  }

  const json& j_;
  std::string where_;
  std::set<std::string> seen_;
};

// Sizes are range-checked here, naming the field, rather than failing later in a division by
// zero (patch_size, num_heads: SIGFPE) or deep inside ("Tensor::empty: negative size"). The
// upper bounds are far above any published model and keep loops and products from overflowing.
void check_range(const Reader& r, const char* key, int v, int lo, int hi) {
  if (v < lo || v > hi)
    r.fail("'" + std::string(key) + "' is " + std::to_string(v) + "; it must be " +
           (lo == 1 && hi == kMaxSize ? std::string("a positive integer") : "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]"));
}
void check_positive(const Reader& r, const char* key, double v, double hi) {
  if (!(v > 0 && v <= hi)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "' is %g; it must be positive (at most %g)", v, hi);
    r.fail("'" + std::string(key) + buf);
  }
}

BackboneConfig parse_backbone(const json& j, const std::string& where) {
  Reader r(j, where);
  BackboneConfig b;
  r.opt("name", b.name);
  if (b.name.empty()) b.name = "custom";
  // A known ViT name fills in the size; explicit numbers override it.
  if (b.name == "vits" || b.name == "vitb" || b.name == "vitl" || b.name == "vitg") {
    const BackboneConfig base = preset_config(b.name == "vits" ? "da3-small" : b.name == "vitb" ? "da3-base"
                                              : b.name == "vitl" ? "da3-large" : "da3-giant").net.backbone;
    b.embed_dim = base.embed_dim;
    b.depth = base.depth;
    b.num_heads = base.num_heads;
    b.ffn_layer = base.ffn_layer;
  }
  r.opt("embed_dim", b.embed_dim);
  r.opt("depth", b.depth);
  r.opt("num_heads", b.num_heads);
  r.opt("mlp_ratio", b.mlp_ratio);
  r.opt("ffn_layer", b.ffn_layer);
  r.opt("patch_size", b.patch_size);
  r.opt("img_size", b.img_size);
  r.req("out_layers", b.out_layers);
  r.opt("alt_start", b.alt_start);
  r.opt("qknorm_start", b.qknorm_start);
  r.opt("rope_start", b.rope_start);
  r.opt("rope_freq", b.rope_freq);
  r.opt("cat_token", b.cat_token);
  r.opt("interpolate_offset", b.interpolate_offset);
  r.finish();
  check_range(r, "embed_dim", b.embed_dim, 1, kMaxSize);
  check_range(r, "depth", b.depth, 1, kMaxDepth);
  check_range(r, "num_heads", b.num_heads, 1, kMaxDepth);
  check_range(r, "patch_size", b.patch_size, 1, 1024);
  check_range(r, "img_size", b.img_size, b.patch_size, kMaxSize);
  check_positive(r, "mlp_ratio", b.mlp_ratio, 64);
  check_positive(r, "rope_freq", b.rope_freq, 1e9);  // the RoPE base: 0 makes every angle NaN
  for (const char* k : {"alt_start", "qknorm_start", "rope_start"}) {
    const int v = k[0] == 'a' ? b.alt_start : k[0] == 'q' ? b.qknorm_start : b.rope_start;
    if (v < -1 || v >= b.depth) r.fail("'" + std::string(k) + "' is " + std::to_string(v) + "; it must be -1 (off) or a block in [0, depth)");
  }
  if (b.embed_dim % b.num_heads != 0) r.fail("embed_dim must be a multiple of num_heads");
  if (b.ffn_layer != "mlp" && b.ffn_layer != "swiglufused" && b.ffn_layer != "swiglu")
    r.fail("ffn_layer '" + b.ffn_layer + "' is not one of mlp, swiglufused");
  for (int l : b.out_layers)
    if (l < 0 || l >= b.depth) r.fail("out_layers entry " + std::to_string(l) + " is outside [0, depth)");
  if (b.out_layers.size() != 4) r.fail("out_layers must list 4 layers (the DPT heads take four levels)");
  return b;
}

HeadConfig parse_head(const json& j, const std::string& where) {
  Reader r(j, where);
  HeadConfig h;
  r.req("type", h.type);
  if (h.type != "DualDPT" && h.type != "DPT") r.fail("type '" + h.type + "' is not one of DualDPT, DPT");
  h.pos_embed = h.type == "DualDPT";
  h.output_dim = h.type == "DualDPT" ? 2 : 1;
  r.req("dim_in", h.dim_in);
  r.opt("output_dim", h.output_dim);
  r.req("features", h.features);
  r.req("out_channels", h.out_channels);
  r.opt("patch_size", h.patch_size);
  r.opt("activation", h.activation);
  r.opt("conf_activation", h.conf_activation);
  r.opt("pos_embed", h.pos_embed);
  r.opt("down_ratio", h.down_ratio);
  r.opt("use_sky_head", h.use_sky_head);
  r.opt("sky_activation", h.sky_activation);
  r.opt("aux_pyramid_levels", h.aux_pyramid_levels);
  r.opt("aux_out1_conv_num", h.aux_out1_conv_num);
  r.finish();
  if (h.out_channels.size() != 4) r.fail("out_channels must have 4 entries");
  check_range(r, "dim_in", h.dim_in, 1, kMaxSize);
  check_range(r, "output_dim", h.output_dim, 1, kMaxSize);
  check_range(r, "features", h.features, 1, kMaxSize);
  for (int c : h.out_channels) check_range(r, "out_channels", c, 1, kMaxSize);
  check_range(r, "patch_size", h.patch_size, 1, 1024);
  check_range(r, "down_ratio", h.down_ratio, 1, 1024);
  check_range(r, "aux_pyramid_levels", h.aux_pyramid_levels, 1, kMaxDepth);
  return h;
}

GsHeadConfig parse_gs_head(const json& j, const std::string& where) {
  Reader r(j, where);
  GsHeadConfig h;
  r.req("dim_in", h.dim_in);
  r.req("output_dim", h.output_dim);
  r.req("features", h.features);
  r.req("out_channels", h.out_channels);
  r.opt("patch_size", h.patch_size);
  r.opt("activation", h.activation);
  r.opt("conf_activation", h.conf_activation);
  r.opt("pos_embed", h.pos_embed);
  r.opt("down_ratio", h.down_ratio);
  r.finish();
  if (h.out_channels.size() != 4) r.fail("out_channels must have 4 entries");
  check_range(r, "dim_in", h.dim_in, 1, kMaxSize);
  check_range(r, "output_dim", h.output_dim, 2, kMaxSize);
  check_range(r, "features", h.features, 8, kMaxSize);  // the image merger has features/8 channels first
  if (h.features % 8 != 0) r.fail("features must be a multiple of 8 (the image merger uses features/8, /4, /2)");
  for (int c : h.out_channels) check_range(r, "out_channels", c, 1, kMaxSize);
  check_range(r, "patch_size", h.patch_size, 1, 1024);
  check_range(r, "down_ratio", h.down_ratio, 1, 1);  // the image merger adds a full-size map
  return h;
}

GsAdapterConfig parse_gs_adapter(const json& j, const std::string& where) {
  Reader r(j, where);
  GsAdapterConfig a;
  r.opt("sh_degree", a.sh_degree);
  r.opt("pred_color", a.pred_color);
  r.opt("pred_offset_depth", a.pred_offset_depth);
  r.opt("pred_offset_xy", a.pred_offset_xy);
  r.opt("gaussian_scale_min", a.gaussian_scale_min);
  r.opt("gaussian_scale_max", a.gaussian_scale_max);
  r.finish();
  check_range(r, "sh_degree", a.sh_degree, 0, 2);  // the SH rotation is written for degrees <= 2
  return a;
}

NetConfig parse_net(const json& j, const std::string& where) {
  Reader r(j, where);
  NetConfig n;
  const json* net = r.sub("net");
  const json* head = r.sub("head");
  if (!net || !head) r.fail("needs both 'net' and 'head'");
  n.backbone = parse_backbone(*net, where + ".net");
  n.head = parse_head(*head, where + ".head");
  if (const json* e = r.sub("cam_enc")) {
    Reader c(*e, where + ".cam_enc");
    CameraEncConfig ce;
    c.req("dim_out", ce.dim_out);
    c.opt("dim_in", ce.dim_in);
    c.opt("trunk_depth", ce.trunk_depth);
    c.opt("target_dim", ce.target_dim);
    c.opt("num_heads", ce.num_heads);
    c.opt("mlp_ratio", ce.mlp_ratio);
    c.opt("init_values", ce.init_values);
    c.finish();
    check_range(c, "dim_out", ce.dim_out, 2, kMaxSize);
    check_range(c, "dim_in", ce.dim_in, 1, kMaxSize);
    check_range(c, "trunk_depth", ce.trunk_depth, 0, kMaxDepth);
    check_range(c, "target_dim", ce.target_dim, 1, kMaxSize);
    check_range(c, "num_heads", ce.num_heads, 1, kMaxDepth);
    check_positive(c, "mlp_ratio", ce.mlp_ratio, 64);
    if (ce.dim_out % ce.num_heads != 0) c.fail("dim_out must be a multiple of num_heads");
    n.cam_enc = ce;
  }
  if (const json* d = r.sub("cam_dec")) {
    Reader c(*d, where + ".cam_dec");
    CameraDecConfig cd;
    c.req("dim_in", cd.dim_in);
    c.finish();
    check_range(c, "dim_in", cd.dim_in, 1, kMaxSize);
    n.cam_dec = cd;
  }
  const json* gh = r.sub("gs_head");
  const json* ga = r.sub("gs_adapter");
  r.finish();
  if (gh || ga) {
    if (!gh || !ga) r.fail("'gs_head' and 'gs_adapter' go together (the GS head's output is the adapter's input)");
    n.has_gs_head = true;
    n.gs_head = parse_gs_head(*gh, where + ".gs_head");
    n.gs_adapter = parse_gs_adapter(*ga, where + ".gs_adapter");
    if (n.gs_head->output_dim != n.gs_adapter->d_in() + 1)
      r.fail("gs_head.output_dim is " + std::to_string(n.gs_head->output_dim) + "; the gs_adapter needs " +
             std::to_string(n.gs_adapter->d_in() + 1) + " (its raw Gaussian channels + 1 opacity)");
  }
  return n;
}

}  // namespace

ModelConfig parse_model_config(const std::string& config_json, const std::string& source) {
  json j;
  try {
    j = json::parse(config_json);
  } catch (const json::exception& e) {
    throw Error(source + " is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(source + " must hold a JSON object");
  std::string name;
  if (j.contains("model_name")) {
    if (!j["model_name"].is_string()) throw Error(source + ": 'model_name' must be a string");
    name = j["model_name"].get<std::string>();
  }
  if (j.contains("architecture") && !j["architecture"].is_null()) {
    const json& a = j["architecture"];
    const std::string where = source + ": architecture";
    ModelConfig m;
    m.model_name = name.empty() ? "custom" : name;
    if (a.is_object() && a.contains("anyview")) {
      Reader r(a, where);
      m.net = parse_net(*r.sub("anyview"), where + ".anyview");
      const json* metric = r.sub("metric");
      if (!metric) r.fail("a nested architecture needs both 'anyview' and 'metric'");
      m.metric = parse_net(*metric, where + ".metric");
      r.finish();
    } else {
      m.net = parse_net(a, where);
    }
    return m;
  }
  if (name.empty())
    throw Error(source + " names no 'model_name' (e.g. \"da3-small\") and has no 'architecture'; "
                "is this a Depth Anything 3 checkpoint?");
  try {
    return preset_config(name);
  } catch (const Error& e) {
    throw Error(source + ": " + e.what());
  }
}

}  // namespace da3
