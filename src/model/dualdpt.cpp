#include "model/dualdpt.hpp"

#include <algorithm>

#include "nn/activations.hpp"
#include "nn/norm.hpp"

namespace da3::model {

namespace {

constexpr int64_t kHeadFeatures2 = 32;  // head_features_2 in the reference
constexpr int64_t kRayChannels = 7;     // 6 ray values + 1 confidence
constexpr float kNormEps = 1e-5f;       // nn.LayerNorm default

std::pair<int64_t, int64_t> hw(const Tensor& t) { return {t.size(1), t.size(2)}; }

// The (in, out) channels of _make_aux_out1_block's convolutions.
std::vector<std::pair<int64_t, int64_t>> aux_out1_shapes(int conv_num, int64_t f, const std::string& where) {
  DA3_CHECK(conv_num == 1 || conv_num == 3 || conv_num == 5,
            where + ": aux_out1_conv_num " + std::to_string(conv_num) + " not supported (1, 3 or 5)");
  std::vector<std::pair<int64_t, int64_t>> s;
  for (int i = 0; i < conv_num; ++i) s.push_back(i % 2 == 0 ? std::make_pair(f, f / 2) : std::make_pair(f / 2, f));
  return s;
}

}  // namespace

DualDPT::DualDPT(const Weights& w, const HeadConfig& cfg) : cfg_(cfg) {
  const std::string where = w.prefix().empty() ? "DualDPT" : w.prefix() + " (DualDPT)";
  DA3_CHECK(cfg.type == "DualDPT", where + ": config type is '" + cfg.type + "'");
  DA3_CHECK(cfg.output_dim >= 2,
            where + ": output_dim must be >= 2 (values + confidence), got " + std::to_string(cfg.output_dim));
  DA3_CHECK(cfg.aux_pyramid_levels >= 1, where + ": aux_pyramid_levels must be >= 1");
  DA3_CHECK(cfg.features > 0 && cfg.features % 2 == 0, where + ": features must be even and positive");
  DA3_CHECK(cfg.patch_size > 0 && cfg.down_ratio > 0, where + ": patch_size and down_ratio must be positive");
  activation_ = parse_head_activation(cfg.activation, where + " activation");
  conf_activation_ = parse_head_activation(cfg.conf_activation, where + " conf_activation");
  const int64_t f = cfg.features, f2 = f / 2, d = cfg.dim_in;

  norm_w_ = w.get("norm.weight", {d});
  norm_b_ = w.get("norm.bias", {d});
  stages_ = DptStages(w, d, cfg.out_channels, f);

  const Weights s = w.child("scratch");
  for (int i = 0; i < 4; ++i) {
    const std::string k = std::to_string(i + 1);
    refine_[i] = FeatureFusionBlock(s.child("refinenet" + k), f, /*has_residual=*/i != 3);
    refine_aux_[i] = FeatureFusionBlock(s.child("refinenet" + k + "_aux"), f, /*has_residual=*/i != 3);
  }
  output_conv1_ = bind_conv2d(s, "output_conv1", f, f2, 3, 1, 1);
  output_conv2_0_ = bind_conv2d(s, "output_conv2.0", f2, kHeadFeatures2, 3, 1, 1);
  output_conv2_2_ = bind_output_conv2d(s, "output_conv2.2", kHeadFeatures2, cfg.output_dim, 1, 1, 0);

  // _fuse keeps one aux level per pyramid level reached (at most 4) and applies
  // output_conv1_aux[i] to the i-th; _forward_impl then uses the last of those and
  // output_conv2_aux[-1]. With the default 4 levels both indices are 3.
  const int levels = cfg.aux_pyramid_levels;
  const int used_out1 = std::min(levels, 4) - 1, used_out2 = levels - 1;
  const auto chain = aux_out1_shapes(cfg.aux_out1_conv_num, f, where);
  for (int lv = 0; lv < levels; ++lv) {
    const Weights o1 = s.child("output_conv1_aux").child(std::to_string(lv));
    for (size_t j = 0; j < chain.size(); ++j) {
      const auto [in, out] = chain[j];
      if (lv == used_out1) {
        aux_out1_.push_back(bind_conv2d(o1, std::to_string(j), in, out, 3, 1, 1));
      } else {
        o1.get(std::to_string(j) + ".weight", {out, in, 3, 3});
        o1.get(std::to_string(j) + ".bias", {out});
      }
    }
    // Sequential(Conv2d, Permute, LayerNorm, Permute, ReLU, Conv2d): parameters at 0, 2, 5.
    const Weights o2 = s.child("output_conv2_aux").child(std::to_string(lv));
    if (lv == used_out2) {
      aux_out2_0_ = bind_conv2d(o2, "0", f2, kHeadFeatures2, 3, 1, 1);
      aux_ln_w_ = o2.get("2.weight", {kHeadFeatures2});
      aux_ln_b_ = o2.get("2.bias", {kHeadFeatures2});
      aux_out2_5_ = bind_output_conv2d(o2, "5", kHeadFeatures2, kRayChannels, 1, 1, 0);
    } else {
      o2.get("0.weight", {kHeadFeatures2, f2, 3, 3});
      o2.get("0.bias", {kHeadFeatures2});
      o2.get("2.weight", {kHeadFeatures2});
      o2.get("2.bias", {kHeadFeatures2});
      o2.get("5.weight", {kRayChannels, kHeadFeatures2, 1, 1});
      o2.get("5.bias", {kRayChannels});
    }
  }
}

HeadOutput DualDPT::forward(const std::vector<Tensor>& feats, int64_t H, int64_t W, bool compute_aux,
                            const HeadHooks* hooks, bool projected) const {
  const int64_t ps = cfg_.patch_size, ph = H / ps, pw = W / ps;
  const HeadInputs in = flatten_head_inputs(feats, projected, "DualDPT", H, W, ps, cfg_.dim_in, stages_);
  const int64_t B = in.B, S = in.S;
  const std::vector<Tensor>& flat = in.flat;
  // h_out = int(ph * patch_size / down_ratio), in Python float arithmetic.
  const int64_t h_out = static_cast<int64_t>(static_cast<double>(ph * ps) / cfg_.down_ratio);
  const int64_t w_out = static_cast<int64_t>(static_cast<double>(pw * ps) / cfg_.down_ratio);
  HeadOutput out;
  const int64_t vals = cfg_.output_dim - 1;
  out.depth = vals == 1 ? Tensor::empty({B, S, h_out, w_out}) : Tensor::empty({B, S, h_out, w_out, vals});
  out.depth_conf = Tensor::empty({B, S, h_out, w_out});
  for (int64_t v0 = 0; v0 < B * S; v0 += kHeadViewsPerPass)
    forward_chunk(flat, v0, std::min(kHeadViewsPerPass, B * S - v0), H, W, compute_aux, out, hooks, projected);
  if (compute_aux && out.ray.defined()) {
    out.ray = out.ray.view({B, S, out.ray.size(1), out.ray.size(2), kRayChannels - 1});
    out.ray_conf = out.ray_conf.view({B, S, out.ray_conf.size(1), out.ray_conf.size(2)});
  }
  return out;
}

Tensor DualDPT::project_feature(int k, Tensor&& feat, int64_t H, int64_t W) const {
  nn::layer_norm(feat, norm_w_, norm_b_, kNormEps, feat);  // in place: the feature is ours
  return stages_.project(k, feat, H / cfg_.patch_size, W / cfg_.patch_size);
}

void DualDPT::forward_chunk(const std::vector<Tensor>& feats, int64_t v0, int64_t n, int64_t H, int64_t W,
                            bool compute_aux, HeadOutput& out, const HeadHooks* hooks, bool projected) const {
  const int64_t ph = H / cfg_.patch_size, pw = W / cfg_.patch_size, d = cfg_.dim_in;

  // 1) Per stage: token norm, tokens -> (n, ph, pw, C) map (already NHWC: no permute), 1x1
  //    projection, pos-embed, resize to the stage's scale, scratch adapter.
  const auto map = [&](int k) {
    if (projected) return feats[k].slice(0, v0, v0 + n);
    return nn::layer_norm(feats[k].slice(0, v0, v0 + n), norm_w_, norm_b_, kNormEps).view({n, ph, pw, d});
  };
  std::array<Tensor, 4> rn =
      stages_.forward(map, cfg_.pos_embed ? &pos_embed_ : nullptr, W, H, hooks, v0, projected);

  // 2) _fuse: the main and aux chains read the same adapters, level 4 -> 1.
  Tensor main = refine_[3].forward(rn[3], nullptr, hw(rn[2]));
  Tensor aux = compute_aux ? refine_aux_[3].forward(rn[3], nullptr, hw(rn[2])) : Tensor();
  main = refine_[2].forward(std::move(main), &rn[2], hw(rn[1]));
  if (compute_aux) aux = refine_aux_[2].forward(std::move(aux), &rn[2], hw(rn[1]));
  main = refine_[1].forward(std::move(main), &rn[1], hw(rn[0]));
  if (compute_aux) aux = refine_aux_[1].forward(std::move(aux), &rn[1], hw(rn[0]));
  // output_conv1 is made band by band as the tail reads it; whole only for a hook that taps it.
  RowSource conv1 = refine_[0].rows_into_conv3x3(std::move(main), &rn[0], output_conv1_);
  if (compute_aux) aux = refine_aux_[0].forward(std::move(aux), &rn[0], std::nullopt);
  rn = {};  // the adapters are consumed: not held through the tail (rn[0]: 4 MB a view)
  if (hooks && hooks->tap) {
    conv1 = RowSource::of(conv1.materialize());
    hooks->tap("output_conv1", v0, conv1.whole);
  }

  // 3) Main head: upsample to the output size, pos-embed, output_conv2, activations.
  const int64_t h_out = out.depth_conf.size(2), w_out = out.depth_conf.size(3);
  const auto emit_depth = [&](int64_t row0, const Tensor& logits) {
    write_depth_band(logits, v0, row0, activation_, conf_activation_, out);  // od >= 2: depth + conf
  };
  run_output_tail(conv1, h_out, w_out, cfg_.pos_embed ? &pos_embed_ : nullptr, W, H,
                  {{&output_conv2_0_, &output_conv2_2_, emit_depth}});
  if (!compute_aux) return;

  // 4) Aux head, last level only: pre-head conv chain, pos-embed, 3x3 conv, LayerNorm over
  //    channels (NHWC: the last axis, no permutes), ReLU, 1x1 conv; rays linear, conf activated.
  for (const nn::Conv2d& c : aux_out1_) aux = c.forward(aux);
  if (cfg_.pos_embed) pos_embed_.add_(aux, W, H);
  Tensor t = aux_out2_0_.forward(aux);
  nn::layer_norm(t, aux_ln_w_, aux_ln_b_, kNormEps, t);
  nn::relu_(t);
  const Tensor ray_logits = aux_out2_5_.forward(t);
  const int64_t rh = ray_logits.size(1), rw = ray_logits.size(2), rpx = rh * rw;
  if (!out.ray.defined()) {
    const int64_t views = out.depth_conf.size(0) * out.depth_conf.size(1);
    out.ray = Tensor::empty({views, rh, rw, kRayChannels - 1});
    out.ray_conf = Tensor::empty({views, rh, rw});
  }
  const float* l = ray_logits.data_as<float>();
  float* ray = out.ray.data_as<float>() + v0 * rpx * (kRayChannels - 1);
  float* conf = out.ray_conf.data_as<float>() + v0 * rpx;
  const HeadActivation cact = conf_activation_;
  #pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < n * rpx; ++p) {
    for (int64_t c = 0; c < kRayChannels - 1; ++c) ray[p * (kRayChannels - 1) + c] = l[p * kRayChannels + c];
    conf[p] = apply_head_activation(cact, l[p * kRayChannels + kRayChannels - 1]);
  }
}

}  // namespace da3::model
