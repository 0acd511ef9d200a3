// postprocess(): the reference OutputProcessor (utils/io/output_processor.py) plus api.py's
// _add_processed_images, and the optional mapping of a view back to its source image size.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"
#include "pipeline/resize_opencv.hpp"

namespace da3 {

namespace {

// (1, N, ...) -> contiguous f32 (N, ...), checked against the batch's N, H, W.
Tensor drop_batch(const Tensor& t, const char* name, const Shape& want) {
  Shape full{1};
  full.insert(full.end(), want.begin(), want.end());
  DA3_CHECK(t.dim() == static_cast<int64_t>(full.size()) && t.size(0) == 1,
            std::string("postprocess: ") + name + " must have shape " + shape_str(full) + " (-1: any), got " +
                shape_str(t.shape()));
  const Tensor x = t.squeeze(0);
  for (size_t d = 0; d < want.size(); ++d)
    DA3_CHECK(want[d] < 0 || x.size(static_cast<int64_t>(d)) == want[d],
              std::string("postprocess: ") + name + " has shape " + shape_str(t.shape()) +
                  ", which does not match the batch (" + shape_str(want) + ")");
  return x.to(DType::F32).contiguous();
}

}  // namespace

InferenceResult postprocess(const Prediction& p, const PreprocessedBatch& batch) {
  const int64_t n = static_cast<int64_t>(batch.views.size());
  DA3_CHECK(n > 0 && batch.processed_images.defined(), "postprocess: the batch is empty");
  const int64_t h = batch.processed_images.size(1), w = batch.processed_images.size(2);
  DA3_CHECK(p.depth.defined(), "postprocess: the prediction has no depth");
  InferenceResult r;
  r.depth = drop_batch(p.depth, "depth", {n, h, w});
  if (p.depth_conf.defined()) r.conf = drop_batch(p.depth_conf, "depth_conf", {n, h, w});
  if (p.extrinsics.defined()) {
    // (1, N, 3, 4) as the model gives it; a 4x4 form keeps its top three rows, as api.py does
    // with input poses (extrinsics[..., :3, :]).
    const Tensor e = drop_batch(p.extrinsics, "extrinsics", {n, -1, 4});
    DA3_CHECK(e.size(1) == 3 || e.size(1) == 4, "postprocess: extrinsics must be 3x4 or 4x4 matrices");
    r.extrinsics = e.slice(1, 0, 3).contiguous();
  }
  if (p.intrinsics.defined()) r.intrinsics = drop_batch(p.intrinsics, "intrinsics", {n, 3, 3});
  if (p.sky.defined()) {
    const Tensor s = drop_batch(p.sky, "sky", {n, h, w});
    r.sky = Tensor::empty({n, h, w}, DType::Bool);
    const float* src = s.data_as<float>();
    bool* dst = static_cast<bool*>(r.sky.data());  // Tensor has no typed bool access
    for (int64_t i = 0; i < s.numel(); ++i) dst[i] = src[i] >= 0.5f;  // OutputProcessor._extract_sky
  }
  r.processed_images = batch.processed_images;
  r.is_metric = p.is_metric;
  r.scale_factor = p.scale_factor;
  r.views = batch.views;
  r.gs_means = p.gs_means;
  r.gs_scales = p.gs_scales;
  r.gs_rotations = p.gs_rotations;
  r.gs_harmonics = p.gs_harmonics;
  r.gs_opacities = p.gs_opacities;
  for (const auto& [name, f] : p.aux) {
    DA3_CHECK(f.dim() == 5 && f.size(0) == 1 && f.size(1) == n, "postprocess: feature '" + name + "' is " +
                                                                    shape_str(f.shape()) + ", expected (1, N, h, w, C)");
    Tensor t = f.select(0, 0).to(DType::F32).contiguous().clone();
    const bool reordered = std::find(p.aux_reference_first.begin(), p.aux_reference_first.end(), name) !=
                           p.aux_reference_first.end();
    if (reordered && !p.ref_view.empty() && n > 1) {
      // View o sits at position 0 if it is the reference r, else o + 1 before r, o after it.
      const int64_t ref = p.ref_view[0], per_view = t.numel() / n;
      Tensor in_order = Tensor::empty(t.shape());
      for (int64_t o = 0; o < n; ++o) {
        const int64_t pos = o == ref ? 0 : (o < ref ? o + 1 : o);
        std::memcpy(in_order.data_as<float>() + o * per_view, t.data_as<float>() + pos * per_view,
                    size_t(per_view) * sizeof(float));
      }
      t = in_order;
    }
    r.features[name] = t;
  }
  return r;
}

OriginalSizeView to_original_size(const InferenceResult& r, int64_t view) {
  const int64_t n = r.depth.size(0);
  DA3_CHECK(view >= 0 && view < n, "to_original_size: view " + std::to_string(view) + " of " + std::to_string(n));
  DA3_CHECK(static_cast<int64_t>(r.views.size()) == n, "to_original_size: the result has no view information");
  const ViewInfo& v = r.views[static_cast<size_t>(view)];
  const int H = static_cast<int>(r.depth.size(1)), W = static_cast<int>(r.depth.size(2));
  const double sx = v.scale_x(), sy = v.scale_y();
  // The part of the source image the view shows: processed [0, W) is source
  // [crop_x / sx, (crop_x + W) / sx).
  const int x0 = static_cast<int>(std::lround(v.crop_x / sx)), y0 = static_cast<int>(std::lround(v.crop_y / sy));
  const int x1 = std::min(v.orig_width, static_cast<int>(std::lround((v.crop_x + W) / sx)));
  const int y1 = std::min(v.orig_height, static_cast<int>(std::lround((v.crop_y + H) / sy)));
  DA3_CHECK(x0 >= 0 && y0 >= 0 && x1 > x0 && y1 > y0,
            "to_original_size: view " + std::to_string(view) + " maps to no pixels of its source image");

  // Into the rectangle (x0, y0)-(x1, y1) of a zeroed source-size map.
  auto remap = [&](const Tensor& maps, io::PixelType type, size_t elem, io::Interpolation interp) {
    const Tensor src = maps.select(0, view).contiguous();
    const io::PlaneRef s{const_cast<void*>(src.data()), W, H, 1, type, size_t(W) * elem};
    Tensor out = Tensor::zeros({v.orig_height, v.orig_width}, maps.dtype());
    const size_t row = size_t(v.orig_width) * elem;
    const io::PlaneRef d{static_cast<uint8_t*>(out.data()) + size_t(y0) * row + size_t(x0) * elem, x1 - x0, y1 - y0, 1,
                         type, row};
    pipeline::resize_into(s, d, interp);
    return out;
  };
  OriginalSizeView o;
  o.depth = remap(r.depth, io::PixelType::F32, 4, io::Interpolation::Linear);
  if (r.conf.defined()) o.conf = remap(r.conf, io::PixelType::F32, 4, io::Interpolation::Linear);
  if (r.sky.defined()) o.sky = remap(r.sky, io::PixelType::U8, 1, io::Interpolation::Nearest);  // bool is one byte
  if (r.intrinsics.defined()) o.intrinsics = intrinsics_at_source(r, view);
  return o;
}

Tensor intrinsics_at_source(const InferenceResult& r, int64_t view) {
  DA3_CHECK(r.intrinsics.defined() && view >= 0 && view < r.intrinsics.size(0) &&
                view < static_cast<int64_t>(r.views.size()),
            "intrinsics_at_source: view " + std::to_string(view) + " has no intrinsics or no view information");
  const ViewInfo& v = r.views[static_cast<size_t>(view)];
  const double sx = v.scale_x(), sy = v.scale_y();
  // The inverse of preprocess's adjustment: undo the crop shift, then the scaling.
  const Tensor k = r.intrinsics.select(0, view).contiguous();
  const float* K = k.data_as<float>();
  Tensor o = Tensor::empty({3, 3});
  float* out = o.data_as<float>();
  for (int c = 0; c < 3; ++c) {
    out[c] = static_cast<float>((K[c] + (c == 2 ? v.crop_x * K[8] : 0.0)) / sx);
    out[3 + c] = static_cast<float>((K[3 + c] + (c == 2 ? v.crop_y * K[8] : 0.0)) / sy);
    out[6 + c] = K[6 + c];
  }
  return o;
}

std::pair<int, int> common_source_size(const std::vector<ViewInfo>& views) {
  DA3_CHECK(!views.empty(), "no views");
  for (const ViewInfo& v : views)
    if (v.orig_width != views[0].orig_width || v.orig_height != views[0].orig_height)
      throw Error("--original-size into npz needs every view at one source size, got " +
                  std::to_string(views[0].orig_width) + "x" + std::to_string(views[0].orig_height) + " (" +
                  views[0].source + ") and " + std::to_string(v.orig_width) + "x" + std::to_string(v.orig_height) +
                  " (" + v.source + "); depth16 and depth_png write each view at its own size");
  return {views[0].orig_width, views[0].orig_height};
}

}  // namespace da3
