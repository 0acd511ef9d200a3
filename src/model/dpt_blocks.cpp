#include "model/dpt_blocks.hpp"

#include <algorithm>
#include <cstring>

#include "nn/elementwise.hpp"
#include "nn/interpolate_nhwc.hpp"

namespace da3::model {

nn::Conv2d bind_conv2d(const Weights& w, const std::string& name, int64_t in, int64_t out, int64_t k, int64_t stride,
                       int64_t padding, bool bias) {
  const Tensor weight = w.get_stored(name + ".weight", {out, in, k, k});  // converted when packed
  const Tensor b = bias ? w.get(name + ".bias", {out}) : Tensor();
  return nn::Conv2d(weight, b, stride, padding, w.prefix() + name, w.conv_dtype());
}

nn::Conv2d bind_output_conv2d(const Weights& w, const std::string& name, int64_t in, int64_t out, int64_t k,
                              int64_t stride, int64_t padding) {
  const Tensor weight = w.get_stored(name + ".weight", {out, in, k, k});
  return nn::Conv2d(weight, w.get(name + ".bias", {out}), stride, padding, w.prefix() + name, DType::F32);
}

ResidualConvUnit::ResidualConvUnit(const Weights& w, int64_t f)
    : conv1_(bind_conv2d(w, "conv1", f, f, 3, 1, 1)), conv2_(bind_conv2d(w, "conv2", f, f, 3, 1, 1)) {}

void ResidualConvUnit::add_branch(const Tensor& x, Tensor& acc) const {
  // relu(x) needs its own buffer: x itself is the residual. The inner ReLU is fused into conv1
  // and the residual add into conv2 (oneDNN sum post-op accumulates into acc).
  const Tensor t = conv1_.forward(nn::relu(x), {.relu = true});
  conv2_.forward(t, {.accumulate = &acc});
}

FeatureFusionBlock::FeatureFusionBlock(const Weights& w, int64_t f, bool has_residual)
    : has_residual_(has_residual),
      unit2_(w.child("resConfUnit2"), f),
      out_conv_(bind_conv2d(w, "out_conv", f, f, 1, 1, 0)) {
  if (has_residual_) unit1_ = ResidualConvUnit(w.child("resConfUnit1"), f);
}

namespace {

// 32 output rows per band: the band's maps (~2 MB per view at 504 wide) stay in cache between
// the upsampling and the convolutions that read them.
constexpr int64_t kBandRows = 32;

// Bilinear (align_corners) upsampling of x (N, h, w, C) to (oh, ow), handed to fn(row0, rows,
// band) band by band: output rows [row0, row0 + rows) plus one halo row above and below, which
// are zero outside the map (a 3x3 convolution's padding).
template <typename Fn>
void for_each_upsampled_band(const Tensor& x, int64_t oh, int64_t ow, Fn&& fn) {
  Tensor band;
  for (int64_t r0 = 0; r0 < oh; r0 += kBandRows) {
    const int64_t rows = std::min(kBandRows, oh - r0);
    if (!band.defined() || band.size(1) != rows + 2) band = Tensor::empty({x.size(0), rows + 2, ow, x.size(3)});
    nn::interpolate_bilinear_nhwc_rows(x, oh, ow, /*align_corners=*/true, r0 - 1, band);
    fn(r0, rows, band);
  }
}

}  // namespace

Tensor FeatureFusionBlock::fuse(const Tensor& x0, const Tensor* x1) const {
  Tensor y;
  if (has_residual_ && x1) {
    // y = x0 + resConfUnit1(x1) = x0 + x1 + branch(x1): sum the skips, then accumulate the branch.
    y = nn::add(x0, *x1);
    unit1_.add_branch(*x1, y);
  } else {
    y = x0.clone();  // the caller's tensor may feed another block (DualDPT's two chains)
  }
  unit2_.add_branch(y, y);
  // The reference upsamples, then applies the 1x1 out_conv. Both are linear per pixel and the
  // bilinear weights of each output pixel sum to 1 (so the bias passes through), hence the conv
  // runs first, on a quarter of the pixels; the results differ by float rounding only.
  return out_conv_.forward(y);
}

Tensor FeatureFusionBlock::forward(const Tensor& x0, const Tensor* x1,
                                   std::optional<std::pair<int64_t, int64_t>> size) const {
  const Tensor y = fuse(x0, x1);
  const auto [oh, ow] = size ? *size : std::make_pair(y.size(1) * 2, y.size(2) * 2);
  return nn::interpolate_bilinear_nhwc(y, oh, ow, /*align_corners=*/true);
}

Tensor FeatureFusionBlock::forward_into_conv3x3(const Tensor& x0, const Tensor* x1, const nn::Conv2d& next) const {
  DA3_CHECK(next.kernel_size() == 3 && next.out_size(8) == 8, "forward_into_conv3x3: expects a 3x3 conv, stride 1, padding 1");
  const Tensor y = fuse(x0, x1);
  const int64_t n = y.size(0), oh = y.size(1) * 2, ow = y.size(2) * 2, co = next.out_channels();
  Tensor out = Tensor::empty({n, oh, ow, co});
  for_each_upsampled_band(y, oh, ow, [&](int64_t r0, int64_t rows, Tensor& band) {
    const Tensor part = next.forward_band(band);
    const int64_t per_view = rows * ow * co;
    for (int64_t b = 0; b < n; ++b)
      std::memcpy(out.data_as<float>() + (b * oh + r0) * ow * co, part.data_as<float>() + b * per_view,
                  per_view * sizeof(float));
  });
  return out;
}

ResizeLayer::ResizeLayer(const Weights& w, int stage, int64_t c) : stage_(stage) {
  const std::string k = std::to_string(stage);
  if (stage == 0 || stage == 1) {
    const int64_t s = stage == 0 ? 4 : 2;
    up_ = nn::ConvTranspose2d(w.get_stored(k + ".weight", {c, c, s, s}), w.get(k + ".bias", {c}), s, 0, w.prefix() + k);
  } else if (stage == 3) {
    down_ = bind_conv2d(w, k, c, c, 3, 2, 1);
  }
}

Tensor ResizeLayer::forward(const Tensor& x) const {
  if (stage_ == 0 || stage_ == 1) return up_.forward(x);
  if (stage_ == 3) return down_.forward(x);
  return x;  // nn.Identity
}

DptStages::DptStages(const Weights& w, int64_t dim_in, const std::vector<int>& oc, int64_t features) {
  DA3_CHECK(oc.size() == 4, w.prefix() + ": out_channels must have 4 entries");
  for (int k = 0; k < 4; ++k) {
    projects[k] = bind_conv2d(w.child("projects"), std::to_string(k), dim_in, oc[k], 1, 1, 0);
    resize[k] = ResizeLayer(w.child("resize_layers"), k, oc[k]);
    layer_rn[k] = bind_conv2d(w.child("scratch"), "layer" + std::to_string(k + 1) + "_rn", oc[k], features, 3, 1, 1,
                              /*bias=*/false);
  }
}

std::array<Tensor, 4> DptStages::forward(const std::function<Tensor(int k)>& map, const UvPosEmbed* pe, int64_t W,
                                         int64_t H, const HeadHooks* hooks, int64_t v0, bool projected) const {
  std::array<Tensor, 4> rn;
  for (int k = 0; k < 4; ++k) {
    Tensor x = projected ? map(k) : projects[k].forward(map(k));
    if (pe) pe->add_(x, W, H);
    x = resize[k].forward(x);
    if (hooks && hooks->tap) hooks->tap("resize." + std::to_string(k), v0, x);
    rn[k] = layer_rn[k].forward(x);
  }
  return rn;
}

Tensor DptStages::project(int k, const Tensor& tokens, int64_t ph, int64_t pw) const {
  const int64_t B = tokens.size(0), S = tokens.size(1);
  const Tensor y = projects[k].forward(tokens.contiguous().view({B * S, ph, pw, tokens.size(3)}));
  return y.view({B, S, ph, pw, y.size(3)});
}

HeadInputs flatten_head_inputs(const std::vector<Tensor>& feats, bool projected, const std::string& head, int64_t H,
                               int64_t W, int64_t patch, int64_t dim_in, const DptStages& stages) {
  DA3_CHECK(feats.size() == 4, head + ": expects 4 feature levels, got " + std::to_string(feats.size()));
  const int64_t ph = H / patch, pw = W / patch;
  DA3_CHECK(ph > 0 && pw > 0, head + ": image " + std::to_string(H) + "x" + std::to_string(W) + " is smaller than a patch");
  HeadInputs in;
  in.B = feats[0].size(0);
  in.S = feats[0].dim() > 1 ? feats[0].size(1) : 0;
  for (size_t k = 0; k < 4; ++k) {
    const Tensor& t = feats[k];
    const int64_t c = projected ? stages.projects[k].out_channels() : dim_in;
    const Shape want = projected ? Shape{in.B, in.S, ph, pw, c} : Shape{in.B, in.S, ph * pw, c};
    if (t.dtype() != DType::F32 || t.shape() != want) {
      std::string dims;
      for (int64_t d : want) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
      throw Error(head + ": feature " + std::to_string(k) + (projected ? " (projected)" : "") + " must be f32 (" + dims +
                  ") for a " + std::to_string(H) + "x" + std::to_string(W) + " image, got " + t.describe());
    }
    in.flat.push_back(projected ? t.contiguous().view({in.B * in.S, ph, pw, c})
                                : t.contiguous().view({in.B * in.S, ph * pw, c}));
  }
  return in;
}

void run_output_tail(const Tensor& x, int64_t h_out, int64_t w_out, const UvPosEmbed* pe, int64_t W, int64_t H,
                     const std::vector<TailBranch>& branches, const Tensor* add) {
  const int64_t c = x.size(3);
  for (const TailBranch& b : branches)
    DA3_CHECK(b.conv3->kernel_size() == 3 && b.conv1->kernel_size() == 1 && b.conv3->in_channels() == c,
              "output tail: expects a 3x3 conv on " + std::to_string(c) + " channels, then a 1x1 conv");
  if (add)
    DA3_CHECK(add->shape() == (Shape{x.size(0), h_out, w_out, c}) && add->is_contiguous(),
              "output tail: the added map must be contiguous (" + std::to_string(x.size(0)) + ", " +
                  std::to_string(h_out) + ", " + std::to_string(w_out) + ", " + std::to_string(c) + "), got " +
                  add->describe());
  for_each_upsampled_band(x, h_out, w_out, [&](int64_t r0, int64_t, Tensor& band) {
    if (add) {
      // band row r is map row r0 - 1 + r; the halo rows outside the map stay zero (padding)
      const int64_t rows = band.size(1), row_len = w_out * c;
      for (int64_t b = 0; b < x.size(0); ++b)
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t y = r0 - 1 + r;
          if (y < 0 || y >= h_out) continue;
          float* dst = band.data_as<float>() + (b * rows + r) * row_len;
          const float* src = add->data_as<float>() + (b * h_out + y) * row_len;
          for (int64_t i = 0; i < row_len; ++i) dst[i] += src[i];
        }
    }
    if (pe) pe->add_rows_(band, r0 - 1, h_out, W, H);
    for (const TailBranch& b : branches) b.emit(r0, b.conv1->forward(b.conv3->forward_band(band, {.relu = true})));
  });
}

void write_depth_band(const Tensor& logits, int64_t v0, int64_t row0, HeadActivation act, HeadActivation cact,
                      HeadOutput& out) {
  const int64_t n = logits.size(0), w_out = logits.size(2), od = logits.size(3);
  const int64_t h_out = out.depth.size(2), px = logits.size(1) * w_out, vals = std::max<int64_t>(od - 1, 1);
  const bool has_conf = od > 1;
  const float* l = logits.data_as<float>();
  float* depth = out.depth.data_as<float>();
  float* conf = has_conf ? out.depth_conf.data_as<float>() : nullptr;
  #pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t p = 0; p < px; ++p) {
      const float* lp = l + (b * px + p) * od;
      const int64_t o = (v0 + b) * h_out * w_out + row0 * w_out + p;  // output pixel index
      for (int64_t c = 0; c < vals; ++c) depth[o * vals + c] = apply_head_activation(act, lp[c]);
      if (has_conf) conf[o] = apply_head_activation(cact, lp[od - 1]);
    }
}

}  // namespace da3::model
