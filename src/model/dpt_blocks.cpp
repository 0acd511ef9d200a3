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
  return nn::Conv2d(weight, b, stride, padding, w.prefix() + name, w.conv_dtype(), w.conv_storage_dtype());
}

nn::Conv2d bind_output_conv2d(const Weights& w, const std::string& name, int64_t in, int64_t out, int64_t k,
                              int64_t stride, int64_t padding) {
  const Tensor weight = w.get_stored(name + ".weight", {out, in, k, k});
  return nn::Conv2d(weight, w.get(name + ".bias", {out}), stride, padding, w.prefix() + name, DType::F32);
}

ResidualConvUnit::ResidualConvUnit(const Weights& w, int64_t f)
    : conv1_(bind_conv2d(w, "conv1", f, f, 3, 1, 1)), conv2_(bind_conv2d(w, "conv2", f, f, 3, 1, 1)) {}

void ResidualConvUnit::add_branch(const Tensor& x, Tensor& acc) const {
  // The outer ReLU is applied as conv1 reads x (x itself is the residual, left as it is), the
  // inner one fused into conv1's output and the residual add into conv2 (oneDNN sum post-op /
  // the Winograd epilogue accumulates into acc).
  const Tensor t = conv1_.forward(x, {.relu = true, .relu_input = true});
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
// are zero outside the map (a 3x3 convolution's padding). A made-on-demand x is asked for the
// input rows each band reads (~20 of 216 for the heads' tail at 504x378); neighbouring bands
// share a row or two, computed twice.
template <typename Fn>
void for_each_upsampled_band(const RowSource& x, int64_t oh, int64_t ow, Fn&& fn) {
  Tensor band;
  for (int64_t r0 = 0; r0 < oh; r0 += kBandRows) {
    const int64_t rows = std::min(kBandRows, oh - r0);
    if (!band.defined() || band.size(1) != rows + 2) band = Tensor::empty({x.n, rows + 2, ow, x.c});
    if (x.whole.defined()) {
      nn::interpolate_bilinear_nhwc_rows(x.whole, oh, ow, /*align_corners=*/true, r0 - 1, band);
    } else {
      const auto [first, last] = nn::bilinear_input_rows(x.h, oh, /*align_corners=*/true, r0 - 1, rows + 2);
      const Tensor slab = x.make(first, last - first + 1);
      nn::interpolate_bilinear_nhwc_rows(slab, first, x.h, oh, ow, /*align_corners=*/true, r0 - 1, band);
    }
    fn(r0, rows, band);
  }
}

}  // namespace

Tensor FeatureFusionBlock::fuse(const Tensor& x0, const Tensor* x1, bool x0_is_ours) const {
  // y = x0 (+ resConfUnit1(x1)), in x0's own storage when the caller handed it over (one map of
  // the level's size less at the head's peak), else in a new one: the caller's x0 may feed
  // another block (DualDPT's two chains).
  Tensor y = x0_is_ours ? x0 : Tensor();
  if (has_residual_ && x1) {
    // x0 + resConfUnit1(x1) = x0 + x1 + branch(x1): sum the skips, then accumulate the branch.
    if (x0_is_ours)
      nn::add_(y, *x1);
    else
      y = nn::add(x0, *x1);
    unit1_.add_branch(*x1, y);
  } else if (!x0_is_ours) {
    y = x0.clone();
  }
  unit2_.add_branch(y, y);
  // The reference upsamples, then applies the 1x1 out_conv. Both are linear per pixel and the
  // bilinear weights of each output pixel sum to 1 (so the bias passes through), hence the conv
  // runs first, on a quarter of the pixels; the results differ by float rounding only.
  return out_conv_.forward(y);
}

Tensor FeatureFusionBlock::upsample(const Tensor& y, std::optional<std::pair<int64_t, int64_t>> size) {
  const auto [oh, ow] = size ? *size : std::make_pair(y.size(1) * 2, y.size(2) * 2);
  return nn::interpolate_bilinear_nhwc(y, oh, ow, /*align_corners=*/true);
}

Tensor FeatureFusionBlock::forward(const Tensor& x0, const Tensor* x1,
                                   std::optional<std::pair<int64_t, int64_t>> size) const {
  return upsample(fuse(x0, x1, false), size);
}

Tensor FeatureFusionBlock::forward(Tensor&& x0, const Tensor* x1, std::optional<std::pair<int64_t, int64_t>> size) const {
  const Tensor mine = std::move(x0);
  return upsample(fuse(mine, x1, true), size);
}

RowSource FeatureFusionBlock::rows_into_conv3x3(Tensor&& x0, const Tensor* x1, const nn::Conv2d& next) const {
  DA3_CHECK(next.kernel_size() == 3 && next.out_size(8) == 8, "rows_into_conv3x3: expects a 3x3 conv, stride 1, padding 1");
  const Tensor mine = std::move(x0);
  const Tensor y = fuse(mine, x1, true);
  RowSource src;
  src.n = y.size(0);
  src.h = y.size(1) * 2;
  src.w = y.size(2) * 2;
  src.c = next.out_channels();
  src.make = [y, &next, oh = src.h, ow = src.w](int64_t row0, int64_t rows) {
    // upsampled rows row0 - 1 .. row0 + rows: the conv's window, zero outside the map (padding)
    Tensor band = Tensor::empty({y.size(0), rows + 2, ow, y.size(3)});
    nn::interpolate_bilinear_nhwc_rows(y, oh, ow, /*align_corners=*/true, row0 - 1, band);
    return next.forward_band(band);
  };
  return src;
}

RowSource RowSource::of(const Tensor& map) {
  DA3_CHECK(map.dim() == 4 && map.is_contiguous(), "RowSource: expects a contiguous NHWC map, got " + map.describe());
  RowSource s;
  s.n = map.size(0);
  s.h = map.size(1);
  s.w = map.size(2);
  s.c = map.size(3);
  s.whole = map;
  return s;
}

Tensor RowSource::materialize() const {
  if (whole.defined()) return whole;
  Tensor out = Tensor::empty({n, h, w, c});
  for (int64_t r0 = 0; r0 < h; r0 += kBandRows) {
    const int64_t rows = std::min(kBandRows, h - r0);
    const Tensor part = make(r0, rows);
    const int64_t per_view = rows * w * c;
    for (int64_t b = 0; b < n; ++b)
      std::memcpy(out.data_as<float>() + (b * h + r0) * w * c, part.data_as<float>() + b * per_view,
                  per_view * sizeof(float));
  }
  return out;
}

RowSource fuse_into_output_conv1(const std::array<FeatureFusionBlock, 4>& refine, std::array<Tensor, 4>& rn,
                                 const nn::Conv2d& output_conv1, const HeadHooks* hooks, int64_t v0) {
  const auto hw = [](const Tensor& t) { return std::make_pair(t.size(1), t.size(2)); };
  Tensor fused = refine[3].forward(rn[3], nullptr, hw(rn[2]));
  fused = refine[2].forward(std::move(fused), &rn[2], hw(rn[1]));
  fused = refine[1].forward(std::move(fused), &rn[1], hw(rn[0]));
  RowSource conv1 = refine[0].rows_into_conv3x3(std::move(fused), &rn[0], output_conv1);
  rn = {};  // not held through the tail (rn[0]: 4 MB a view for DA3-SMALL)
  if (hooks && hooks->tap) {
    conv1 = RowSource::of(conv1.materialize());
    hooks->tap("output_conv1", v0, conv1.whole);
  }
  return conv1;
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

void run_output_tail(const RowSource& x, int64_t h_out, int64_t w_out, const UvPosEmbed* pe, int64_t W, int64_t H,
                     const std::vector<TailBranch>& branches, const Tensor* add) {
  const int64_t c = x.c;
  for (const TailBranch& b : branches)
    DA3_CHECK(b.conv3->kernel_size() == 3 && b.conv1->kernel_size() == 1 && b.conv3->in_channels() == c,
              "output tail: expects a 3x3 conv on " + std::to_string(c) + " channels, then a 1x1 conv");
  if (add)
    DA3_CHECK(add->shape() == (Shape{x.n, h_out, w_out, c}) && add->is_contiguous(),
              "output tail: the added map must be contiguous (" + std::to_string(x.n) + ", " +
                  std::to_string(h_out) + ", " + std::to_string(w_out) + ", " + std::to_string(c) + "), got " +
                  add->describe());
  for_each_upsampled_band(x, h_out, w_out, [&](int64_t r0, int64_t, Tensor& band) {
    if (add) {
      // band row r is map row r0 - 1 + r; the halo rows outside the map stay zero (padding)
      const int64_t rows = band.size(1), row_len = w_out * c;
      for (int64_t b = 0; b < x.n; ++b)
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
