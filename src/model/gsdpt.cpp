#include "model/gsdpt.hpp"

#include <algorithm>

#include "nn/activations.hpp"

namespace da3::model {

namespace {

constexpr int64_t kHeadFeatures2 = 32;  // head_features_2 in the reference (DPT)
}  // namespace

GSDPT::GSDPT(const Weights& w, const GsHeadConfig& cfg) : cfg_(cfg) {
  const std::string where = w.prefix().empty() ? "GSDPT" : w.prefix() + " (GSDPT)";
  DA3_CHECK(cfg.output_dim >= 2, where + ": output_dim must be >= 2 (raw Gaussians + opacity)");
  DA3_CHECK(cfg.features >= 8 && cfg.features % 8 == 0, where + ": features must be a positive multiple of 8");
  DA3_CHECK(cfg.down_ratio == 1, where + ": down_ratio must be 1 (the image merger works at the image size)");
  activation_ = parse_head_activation(cfg.activation, where + " activation");
  conf_activation_ = parse_head_activation(cfg.conf_activation, where + " conf_activation");
  const int64_t f = cfg.features, f2 = f / 2;
  stages_ = DptStages(w, cfg.dim_in, cfg.out_channels, f);
  const Weights s = w.child("scratch");
  for (int i = 0; i < 4; ++i)
    refine_[i] = FeatureFusionBlock(s.child("refinenet" + std::to_string(i + 1)), f, /*has_residual=*/i != 3);
  output_conv1_ = bind_conv2d(s, "output_conv1", f, f2, 3, 1, 1);
  output_conv2_0_ = bind_conv2d(s, "output_conv2.0", f2, kHeadFeatures2, 3, 1, 1);
  output_conv2_2_ = bind_output_conv2d(s, "output_conv2.2", kHeadFeatures2, cfg.output_dim, 1, 1, 0);
  // images_merger = Sequential(Conv2d, GELU, Conv2d, GELU, Conv2d, GELU): convs at 0, 2, 4
  // ("fewer channels first": merger_out_dim / 4, / 2, then merger_out_dim = features / 2).
  const int64_t ch[4] = {3, f2 / 4, f2 / 2, f2};
  for (int i = 0; i < 3; ++i)
    images_merger_[i] = bind_conv2d(w.child("images_merger"), std::to_string(2 * i), ch[i], ch[i + 1], 3, 1, 1);
}

GsHeadOutput GSDPT::forward(const std::vector<Tensor>& feats, const Tensor& images, int64_t H, int64_t W,
                            const HeadHooks* hooks) const {
  DA3_CHECK(feats.size() == 4, "GSDPT: expects 4 feature levels, got " + std::to_string(feats.size()));
  const int64_t ps = cfg_.patch_size, ph = H / ps, pw = W / ps;
  DA3_CHECK(ph > 0 && pw > 0 && ph * ps == H && pw * ps == W,
            "GSDPT: image " + std::to_string(H) + "x" + std::to_string(W) + " must be a multiple of the patch size");
  const int64_t B = feats[0].size(0), S = feats[0].size(1);
  DA3_CHECK(images.dtype() == DType::F32 && images.shape() == (Shape{B, S, 3, H, W}),
            "GSDPT: images must be f32 (" + std::to_string(B) + ", " + std::to_string(S) + ", 3, " + std::to_string(H) +
                ", " + std::to_string(W) + "), got " + images.describe());
  std::vector<Tensor> flat;
  for (size_t k = 0; k < 4; ++k) {
    const Tensor& t = feats[k];
    DA3_CHECK(t.dtype() == DType::F32 && t.dim() == 4 && t.size(0) == B && t.size(1) == S && t.size(2) == ph * pw &&
                  t.size(3) == cfg_.dim_in,
              "GSDPT: feature " + std::to_string(k) + " must be f32 (" + std::to_string(B) + ", " + std::to_string(S) +
                  ", " + std::to_string(ph * pw) + ", " + std::to_string(cfg_.dim_in) + "), got " + t.describe());
    flat.push_back(t.contiguous().view({B * S, ph * pw, cfg_.dim_in}));
  }
  // NCHW -> NHWC once: the head runs channels-last.
  const Tensor img = images.contiguous().view({B * S, 3, H, W}).permute({0, 2, 3, 1}).contiguous();
  // The main branch's writer (values, then the confidence in the last channel) is exactly
  // activate_head_gs with conf_dim 1, so the raw maps are filled through a HeadOutput.
  HeadOutput out;
  out.depth = Tensor::empty({B, S, H, W, cfg_.output_dim - 1});
  out.depth_conf = Tensor::empty({B, S, H, W});
  for (int64_t v0 = 0; v0 < B * S; v0 += kHeadViewsPerPass)
    forward_chunk(flat, img, v0, std::min(kHeadViewsPerPass, B * S - v0), H, W, out, hooks);
  return {out.depth, out.depth_conf};
}

void GSDPT::forward_chunk(const std::vector<Tensor>& feats, const Tensor& img, int64_t v0, int64_t n, int64_t H,
                          int64_t W, HeadOutput& out, const HeadHooks* hooks) const {
  const int64_t ph = H / cfg_.patch_size, pw = W / cfg_.patch_size, d = cfg_.dim_in;
  const auto map = [&](int k) { return feats[k].slice(0, v0, v0 + n).view({n, ph, pw, d}); };
  std::array<Tensor, 4> rn = stages_.forward(map, cfg_.pos_embed ? &pos_embed_ : nullptr, W, H, hooks, v0);

  // _fuse, then output_conv1 on the fused map, before the upsampling (as in DPT).
  const RowSource conv1 = fuse_into_output_conv1(refine_, rn, output_conv1_, hooks, v0);

  // "inject the image information here": images_merger on this chunk's views, full size.
  Tensor merged = img.slice(0, v0, v0 + n).contiguous();
  for (const nn::Conv2d& conv : images_merger_) {
    merged = conv.forward(merged);
    nn::gelu_(merged);
  }
  const auto emit = [&](int64_t row0, const Tensor& logits) {
    write_depth_band(logits, v0, row0, activation_, conf_activation_, out);
  };
  run_output_tail(conv1, H, W, cfg_.pos_embed ? &pos_embed_ : nullptr, W, H, {{&output_conv2_0_, &output_conv2_2_, emit}},
                  &merged);
}

}  // namespace da3::model
