#include "model/dpt.hpp"

#include <algorithm>

namespace da3::model {

namespace {

constexpr int64_t kHeadFeatures2 = 32;  // head_features_2 in the reference
}  // namespace

DPT::DPT(const Weights& w, const HeadConfig& cfg) : cfg_(cfg) {
  const std::string where = w.prefix().empty() ? "DPT" : w.prefix() + " (DPT)";
  DA3_CHECK(cfg.type == "DPT", where + ": config type is '" + cfg.type + "'");
  DA3_CHECK(cfg.output_dim >= 1, where + ": output_dim must be >= 1");
  DA3_CHECK(cfg.features > 0 && cfg.features % 2 == 0, where + ": features must be even and positive");
  DA3_CHECK(cfg.patch_size > 0 && cfg.down_ratio > 0, where + ": patch_size and down_ratio must be positive");
  activation_ = parse_head_activation(cfg.activation, where + " activation");
  conf_activation_ = parse_head_activation(cfg.conf_activation, where + " conf_activation");
  // _apply_sky_activation knows sigmoid, relu and (anything else) linear.
  sky_activation_ = parse_head_activation(cfg.sky_activation, where + " sky_activation");
  DA3_CHECK(sky_activation_ == HeadActivation::Sigmoid || sky_activation_ == HeadActivation::Relu ||
                sky_activation_ == HeadActivation::Linear,
            where + ": sky_activation must be sigmoid, relu or linear, got '" + cfg.sky_activation + "'");
  const int64_t f = cfg.features, f2 = f / 2;

  stages_ = DptStages(w, cfg.dim_in, cfg.out_channels, f);
  const Weights s = w.child("scratch");
  for (int i = 0; i < 4; ++i)
    refine_[i] = FeatureFusionBlock(s.child("refinenet" + std::to_string(i + 1)), f, /*has_residual=*/i != 3);
  output_conv1_ = bind_conv2d(s, "output_conv1", f, f2, 3, 1, 1);
  // Sequential(Conv2d, ReLU, Conv2d) (use_ln_for_heads is off): parameters at 0 and 2.
  output_conv2_0_ = bind_conv2d(s, "output_conv2.0", f2, kHeadFeatures2, 3, 1, 1);
  output_conv2_2_ = bind_output_conv2d(s, "output_conv2.2", kHeadFeatures2, cfg.output_dim, 1, 1, 0);
  if (cfg.use_sky_head) {
    sky_output_conv2_0_ = bind_conv2d(s, "sky_output_conv2.0", f2, kHeadFeatures2, 3, 1, 1);
    sky_output_conv2_2_ = bind_output_conv2d(s, "sky_output_conv2.2", kHeadFeatures2, 1, 1, 1, 0);
  }
}

HeadOutput DPT::forward(const std::vector<Tensor>& feats, int64_t H, int64_t W, bool /*compute_aux*/,
                        const HeadHooks* hooks, bool projected) const {
  const int64_t ps = cfg_.patch_size, ph = H / ps, pw = W / ps;
  const HeadInputs in = flatten_head_inputs(feats, projected, "DPT", H, W, ps, cfg_.dim_in, stages_);
  const int64_t B = in.B, S = in.S;
  const std::vector<Tensor>& flat = in.flat;
  const int64_t h_out = static_cast<int64_t>(static_cast<double>(ph * ps) / cfg_.down_ratio);
  const int64_t w_out = static_cast<int64_t>(static_cast<double>(pw * ps) / cfg_.down_ratio);
  HeadOutput out;
  if (cfg_.output_dim > 1) {
    // pred.squeeze(1) on (B·S, h, w, output_dim - 1) squeezes nothing: the channel axis stays.
    out.depth = Tensor::empty({B, S, h_out, w_out, cfg_.output_dim - 1});
    out.depth_conf = Tensor::empty({B, S, h_out, w_out});
  } else {
    out.depth = Tensor::empty({B, S, h_out, w_out});
  }
  if (cfg_.use_sky_head) out.sky = Tensor::empty({B, S, h_out, w_out});
  for (int64_t v0 = 0; v0 < B * S; v0 += kHeadViewsPerPass)
    forward_chunk(flat, v0, std::min(kHeadViewsPerPass, B * S - v0), H, W, out, hooks, projected);
  return out;
}

Tensor DPT::project_feature(int k, const Tensor& feat, int64_t H, int64_t W) const {
  return stages_.project(k, feat, H / cfg_.patch_size, W / cfg_.patch_size);
}

void DPT::forward_chunk(const std::vector<Tensor>& feats, int64_t v0, int64_t n, int64_t H, int64_t W, HeadOutput& out,
                        const HeadHooks* hooks, bool projected) const {
  const int64_t ph = H / cfg_.patch_size, pw = W / cfg_.patch_size, d = cfg_.dim_in;

  // 1) Per stage: tokens -> (n, ph, pw, C) map (already NHWC), 1x1 projection, optional
  //    pos-embed, resize, scratch adapter.
  const auto map = [&](int k) {
    const Tensor views = feats[k].slice(0, v0, v0 + n);
    return projected ? views : views.view({n, ph, pw, d});
  };
  std::array<Tensor, 4> rn =
      stages_.forward(map, cfg_.pos_embed ? &pos_embed_ : nullptr, W, H, hooks, v0, projected);

  // 2) _fuse, level 4 -> 1, then output_conv1 (made band by band as the tail reads it).
  const RowSource conv1 = fuse_into_output_conv1(refine_, rn, output_conv1_, hooks, v0);
  const int64_t h_out = out.depth.size(2), w_out = out.depth.size(3);

  // 3) Upsampling to the output size, pos-embed, then the main head (values, then the
  //    confidence in the last channel) and the sky head on the same features, band by band.
  const auto emit_depth = [&](int64_t row0, const Tensor& logits) {
    write_depth_band(logits, v0, row0, activation_, conf_activation_, out);
  };
  const auto emit_sky = [&](int64_t row0, const Tensor& logits) {
    const int64_t px = logits.size(1) * w_out;
    const float* l = logits.data_as<float>();
    const HeadActivation act = sky_activation_;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; ++b)
      for (int64_t p = 0; p < px; ++p)
        out.sky.data_as<float>()[(v0 + b) * h_out * w_out + row0 * w_out + p] = apply_head_activation(act, l[b * px + p]);
  };
  std::vector<TailBranch> branches{{&output_conv2_0_, &output_conv2_2_, emit_depth}};
  if (cfg_.use_sky_head) branches.push_back({&sky_output_conv2_0_, &sky_output_conv2_2_, emit_sky});
  run_output_tail(conv1, h_out, w_out, cfg_.pos_embed ? &pos_embed_ : nullptr, W, H, branches);
}

}  // namespace da3::model
