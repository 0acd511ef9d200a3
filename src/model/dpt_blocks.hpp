#pragma once
// Mirrors the building blocks of depth_anything_3/model/dpt.py that DPT and DualDPT share:
// ResidualConvUnit, FeatureFusionBlock (_make_fusion_block), the per-stage resize layers and
// the scratch adapters (_make_scratch). Everything works on NHWC f32 tensors.
#include <array>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/head_output.hpp"
#include "model/utils/head_utils.hpp"
#include "model/weights.hpp"
#include "nn/conv.hpp"
#include "nn/conv_transpose.hpp"

namespace da3::model {

// out = conv2(relu(conv1(relu(x)))) + x; no norms (bn=False), groups 1.
class ResidualConvUnit {
 public:
  ResidualConvUnit() = default;
  ResidualConvUnit(const Weights& w, int64_t features);
  // Adds the unit's residual branch, conv2(relu(conv1(relu(x)))), into `acc` (same shape as x;
  // acc may be x itself). Passing acc = x gives the unit's output in place.
  void add_branch(const Tensor& x, Tensor& acc) const;

 private:
  nn::Conv2d conv1_, conv2_;
};

// Views per pass of a DPT-style head. The reference passes 8 (chunk_size); the values are per
// view, so the pass size changes none of them, only the head's memory: ~18 MB of activations a
// view (DA3-SMALL, 504x378), which at 8 views made the head the forward's peak (8 views:
// 253 -> 194 MB of tensors at 2, the backbone's peak then; time the same, docs/perf.md).
constexpr int64_t kHeadViewsPerPass = 2;

// A map (n, h, w, c) that the heads' output tail reads a few rows at a time: held whole, or made
// on demand, rows [row0, row0 + rows) at each call (the last fusion block's output_conv1, whose
// whole map, 216x288 with features/2 channels per view at 504x378 — 8 MB for DA3-SMALL, 32 MB
// for DA3-LARGE — then never exists).
struct RowSource {
  int64_t n = 0, h = 0, w = 0, c = 0;
  Tensor whole;                                             // defined: the map itself
  std::function<Tensor(int64_t row0, int64_t rows)> make;  // otherwise: (n, rows, w, c)
  static RowSource of(const Tensor& map);
  Tensor materialize() const;  // the whole map (for hooks that tap it)
};

// y = x0 (+ resConfUnit1(x1)); y = resConfUnit2(y); bilinear (align_corners) upsample to
// `size`, or x2 without one; then the 1x1 out_conv.
class FeatureFusionBlock {
 public:
  FeatureFusionBlock() = default;
  FeatureFusionBlock(const Weights& w, int64_t features, bool has_residual);
  Tensor forward(const Tensor& x0, const Tensor* x1, std::optional<std::pair<int64_t, int64_t>> size) const;
  // The same, handed x0's storage to sum into: the caller keeps no other tensor viewing it.
  Tensor forward(Tensor&& x0, const Tensor* x1, std::optional<std::pair<int64_t, int64_t>> size) const;
  // next(forward(x0, x1, 2x)) for a 3x3, stride-1, padding-1 `next` (the heads' output_conv1) as
  // a RowSource that computes the rows asked for (plus the upsampled rows their 3x3 window needs)
  // at each call: neither the upsampled map (216x288xfeatures per view at 504x378, the largest
  // of the head) nor next's output is ever held whole. It holds the fused map (before the
  // upsampling) and `next`, which must outlive it. x0 as in the && forward.
  RowSource rows_into_conv3x3(Tensor&& x0, const Tensor* x1, const nn::Conv2d& next) const;
  Tensor forward_into_conv3x3(Tensor&& x0, const Tensor* x1, const nn::Conv2d& next) const {
    return rows_into_conv3x3(std::move(x0), x1, next).materialize();
  }

 private:
  // Everything before the upsampling; with x0_is_ours the sum is made in x0's storage.
  Tensor fuse(const Tensor& x0, const Tensor* x1, bool x0_is_ours) const;
  static Tensor upsample(const Tensor& y, std::optional<std::pair<int64_t, int64_t>> size);
  bool has_residual_ = true;
  ResidualConvUnit unit1_, unit2_;
  nn::Conv2d out_conv_;
};

// _fuse of a one-chain head (DPT, GSDPT): refinenet4 -> 1 over the adapters' maps `rn`, which it
// consumes (released before it returns), ending in output_conv1 as a RowSource — whole only
// when a hook taps it ("output_conv1", views from v0).
RowSource fuse_into_output_conv1(const std::array<FeatureFusionBlock, 4>& refine, std::array<Tensor, 4>& rn,
                                 const nn::Conv2d& output_conv1, const HeadHooks* hooks, int64_t v0);

// resize_layers[k]: ConvTranspose(k=4, s=4), ConvTranspose(k=2, s=2), Identity,
// Conv(k=3, s=2, p=1): the four token maps go to 4x, 2x, 1x and 1/2x the patch grid.
class ResizeLayer {
 public:
  ResizeLayer() = default;
  ResizeLayer(const Weights& w, int stage, int64_t channels);
  Tensor forward(const Tensor& x) const;

 private:
  int stage_ = 2;
  nn::ConvTranspose2d up_;
  nn::Conv2d down_;
};

// The projections and resizers of the four stages plus scratch.layer{1..4}_rn, built from the
// head's weights (w scoped at the head).
struct DptStages {
  // map(k): stage k's tapped tokens as an (n, ph, pw, dim_in) NHWC map, asked for one stage at a
  // time so only one stage's input is alive — or, with `projected`, that map already through the
  // stage's 1x1 projection (n, ph, pw, out_channels[k]): project() made it earlier, and the
  // pos-embed is then added into it in place. Returns the four scratch adapters' outputs: 1x1
  // projection, the UV pos-embed of a W x H image when `pe` is given, resize, layer_rn.
  // `hooks->tap` sees each resized map as "resize.<k>" (views from v0).
  std::array<Tensor, 4> forward(const std::function<Tensor(int k)>& map, const UvPosEmbed* pe, int64_t W, int64_t H,
                                const HeadHooks* hooks, int64_t v0, bool projected = false) const;
  // Stage k's 1x1 projection of tokens (B, S, ph·pw, dim_in) -> (B, S, ph, pw, out_channels[k]).
  // A head's inputs projected as the backbone produces them take out_channels[k] floats a token
  // instead of dim_in (DA3-SMALL: 720 instead of 3,072 over the four stages).
  Tensor project(int k, const Tensor& tokens, int64_t ph, int64_t pw) const;

  std::array<nn::Conv2d, 4> projects;  // 1x1, dim_in -> out_channels[k]
  std::array<ResizeLayer, 4> resize;
  std::array<nn::Conv2d, 4> layer_rn;  // 3x3, out_channels[k] -> features, no bias
  DptStages() = default;
  DptStages(const Weights& w, int64_t dim_in, const std::vector<int>& out_channels, int64_t features);
};

// A DPT-style head's four inputs with the batch flattened: the tapped tokens (B, S, ph·pw,
// dim_in) as (B·S, ph·pw, dim_in), or, `projected`, DptStages::project's (B, S, ph, pw, oc_k) as
// (B·S, ph, pw, oc_k). Checks the shapes against an H x W image, naming `head` in the error.
struct HeadInputs {
  std::vector<Tensor> flat;
  int64_t B = 0, S = 0;
};
HeadInputs flatten_head_inputs(const std::vector<Tensor>& feats, bool projected, const std::string& head, int64_t H,
                               int64_t W, int64_t patch, int64_t dim_in, const DptStages& stages);

// Binds nn.Conv2d(in, out, k, stride, padding, bias) stored under `name` ("<name>.weight",
// "<name>.bias"), checking the shapes; it computes in w.conv_dtype().
nn::Conv2d bind_conv2d(const Weights& w, const std::string& name, int64_t in, int64_t out, int64_t k, int64_t stride,
                       int64_t padding, bool bias = true);
// The same for a head's last layer, which computes in f32 whatever the model's precision.
nn::Conv2d bind_output_conv2d(const Weights& w, const std::string& name, int64_t in, int64_t out, int64_t k,
                              int64_t stride, int64_t padding);

// One output branch of a head's tail, output_conv2 = Sequential(Conv2d 3x3, ReLU, Conv2d 1x1):
// `emit(row0, logits)` receives the logits (N, rows, w_out, out) of output rows [row0, row0 + rows).
struct TailBranch {
  const nn::Conv2d* conv3;
  const nn::Conv2d* conv1;
  std::function<void(int64_t row0, const Tensor& logits)> emit;
};

// The tail DPT and DualDPT share: bilinear (align_corners) upsampling of x (N, h, w, C) to
// (h_out, w_out) — each band asks x for the input rows it reads, and no more — the UV pos-embed of a W x H image when `pe` is given, then every branch.
// Streamed in bands of output rows, so the full-resolution maps (N·h_out·w_out·C floats each:
// 24 MB per view at 504x378 with 32 channels) never exist; the values are the same as running
// the layers one after the other on whole maps.
// `add`, when given, is a full-size (N, h_out, w_out, C) map added to the upsampled rows before
// the pos-embed (GSDPT's image merger).
void run_output_tail(const RowSource& x, int64_t h_out, int64_t w_out, const UvPosEmbed* pe, int64_t W, int64_t H,
                     const std::vector<TailBranch>& branches, const Tensor* add = nullptr);

// A band of the main branch's logits (n, rows, w_out, od) into out.depth (values: the first
// max(od - 1, 1) channels through `act`) and, when od > 1, out.depth_conf (the last channel
// through `cact`), for views v0.. and output rows row0..
void write_depth_band(const Tensor& logits, int64_t v0, int64_t row0, HeadActivation act, HeadActivation cact,
                      HeadOutput& out);

}  // namespace da3::model
