// depth_png (the reference's visualize_depth colouring) and depth16 (16-bit PNG + JSON scale).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"
#include "io/image.hpp"
#include "pipeline/colormap_spectral.hpp"
#include "pipeline/percentile.hpp"

namespace da3 {

namespace {

std::string view_file(const std::string& dir, const InferenceResult& r, int64_t v, const char* ext) {
  return (std::filesystem::path(dir) / (view_file_stem(r, v) + ext)).string();
}

void check_depth(const InferenceResult& r, const char* what) {
  DA3_CHECK(r.depth.defined() && r.depth.dim() == 3, std::string(what) + " export: the result has no (N, H, W) depth");
}

// View v's depth map (H, W): at the processed size, or at its source image's size.
Tensor view_depth(const InferenceResult& r, int64_t v, const ExportOptions& o) {
  return o.original_size ? to_original_size(r, v).depth : r.depth.select(0, v).contiguous();
}

}  // namespace

Tensor colorize_depth(const Tensor& depth_in) {
  DA3_CHECK(depth_in.dim() == 2, "colorize_depth: depth must be (H, W), got " + shape_str(depth_in.shape()));
  const Tensor depth = depth_in.to(DType::F32).contiguous();
  const int64_t n = depth.numel();
  const float* d = depth.data_as<float>();
  // visualize_depth works on inverse depth, so near is bright red and far is blue.
  std::vector<float> inv(d, d + n), valid;
  for (int64_t i = 0; i < n; ++i)
    if (d[i] > 0) {
      inv[i] = 1.0f / d[i];
      valid.push_back(inv[i]);
    }
  double lo = 0, hi = 0;
  if (valid.size() > 10) {
    lo = pipeline::percentile_linear(valid, 2.0);
    hi = pipeline::percentile_linear(valid, 98.0);
  }
  if (lo == hi) {
    lo -= 1e-6;
    hi += 1e-6;
  }
  // numpy applies the float64 scalars to the float32 array in float32.
  const float lo32 = static_cast<float>(lo), range32 = static_cast<float>(hi - lo);
  const auto& table = pipeline::spectral_table_u8();
  Tensor out = Tensor::empty({depth.size(0), depth.size(1), 3}, DType::U8);
  uint8_t* o = out.data_as<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    float t = (inv[i] - lo32) / range32;
    if (!std::isnan(t)) t = std::min(std::max(t, 0.0f), 1.0f);
    const int idx = pipeline::spectral_index(1.0f - t);
    for (int c = 0; c < 3; ++c) o[i * 3 + c] = idx < 0 ? 0 : table[static_cast<size_t>(idx)][c];
  }
  return out;
}

void export_depth_png(const InferenceResult& r, const std::string& dir, const ExportOptions& o) {
  check_depth(r, "depth_png");
  std::filesystem::create_directories(dir);
  for (int64_t v = 0; v < r.depth.size(0); ++v) {
    const Tensor depth = view_depth(r, v, o);
    const int H = static_cast<int>(depth.size(0)), W = static_cast<int>(depth.size(1));
    const Tensor rgb = colorize_depth(depth);
    io::write_file_atomic(view_file(dir, r, v, ".png"), io::encode_png_rgb8(rgb.data_as<uint8_t>(), W, H));
  }
}

void export_depth16(const InferenceResult& r, const std::string& dir, const ExportOptions& o) {
  check_depth(r, "depth16");
  std::filesystem::create_directories(dir);
  for (int64_t v = 0; v < r.depth.size(0); ++v) {
    const Tensor depth = view_depth(r, v, o);
    const int64_t H = depth.size(0), W = depth.size(1);
    const float* d = depth.data_as<float>();
    float max_depth = 0, min_depth = INFINITY;
    for (int64_t i = 0; i < H * W; ++i)
      if (std::isfinite(d[i]) && d[i] > 0) {
        max_depth = std::max(max_depth, d[i]);
        min_depth = std::min(min_depth, d[i]);
      }
    // The full 16-bit range spans 0 .. the view's largest depth; 0 is kept for "no depth".
    const double scale = max_depth > 0 ? double(max_depth) / 65535.0 : 1.0;
    std::vector<uint16_t> values(static_cast<size_t>(H * W), 0);
    for (int64_t i = 0; i < H * W; ++i)
      if (std::isfinite(d[i]) && d[i] > 0)
        values[static_cast<size_t>(i)] =
            static_cast<uint16_t>(std::clamp<double>(std::nearbyint(d[i] / scale), 1.0, 65535.0));
    io::write_file_atomic(view_file(dir, r, v, ".png"),
                          io::encode_png_gray16(values.data(), static_cast<int>(W), static_cast<int>(H)));
    const nlohmann::json meta = {
        {"format", "da3 depth16"},
        {"depth", "value * scale; value 0 means no depth"},
        {"scale", scale},
        {"unit", r.is_metric ? "meters" : "relative (scale-free network units)"},
        {"width", W},
        {"height", H},
        {"min_depth", max_depth > 0 ? double(min_depth) : 0.0},
        {"max_depth", double(max_depth)},
        {"source", v < static_cast<int64_t>(r.views.size()) ? r.views[static_cast<size_t>(v)].source : ""},
    };
    io::write_file_atomic(view_file(dir, r, v, ".json"), meta.dump(2) + "\n");
  }
}

}  // namespace da3
