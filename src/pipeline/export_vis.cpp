// depth_vis and feat_vis: the reference's visual exports (utils/export/depth_vis.py,
// feat_vis.py), each view as its processed image beside a picture of what the model made of it.
#include <algorithm>
#include <cstring>
#include <filesystem>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"
#include "io/avi.hpp"
#include "io/image.hpp"
#include "pipeline/feature_pca.hpp"

namespace da3 {

namespace {

// [left | right], both (H, W, 3) u8, into (H, 2W, 3).
std::vector<uint8_t> side_by_side(const uint8_t* left, const uint8_t* right, int64_t h, int64_t w) {
  std::vector<uint8_t> out(size_t(h * w * 6));
  for (int64_t y = 0; y < h; ++y) {
    std::memcpy(out.data() + y * w * 6, left + y * w * 3, size_t(w * 3));
    std::memcpy(out.data() + y * w * 6 + w * 3, right + y * w * 3, size_t(w * 3));
  }
  return out;
}

const uint8_t* view_image(const InferenceResult& r, int64_t v, const char* what) {
  DA3_CHECK(r.processed_images.defined() && r.processed_images.dim() == 4 && r.processed_images.size(0) > v,
            std::string(what) + " export: the result has no processed images");
  return r.processed_images.data_as<uint8_t>() + v * r.processed_images.size(1) * r.processed_images.size(2) * 3;
}

std::string view_path(const std::string& dir, const InferenceResult& r, int64_t v) {
  return (std::filesystem::path(dir) / (view_file_stem(r, v) + ".png")).string();
}

}  // namespace

void export_depth_vis(const InferenceResult& r, const std::string& dir) {
  DA3_CHECK(r.depth.defined() && r.depth.dim() == 3, "depth_vis export: the result has no (N, H, W) depth");
  std::filesystem::create_directories(dir);
  const int64_t h = r.depth.size(1), w = r.depth.size(2);
  for (int64_t v = 0; v < r.depth.size(0); ++v) {
    const Tensor coloured = colorize_depth(r.depth.select(0, v));
    const auto both = side_by_side(view_image(r, v, "depth_vis"), coloured.data_as<uint8_t>(), h, w);
    io::write_file_atomic(view_path(dir, r, v), io::encode_png_rgb8(both.data(), int(2 * w), int(h)));
  }
}

void export_feat_vis(const InferenceResult& r, const std::string& dir, const ExportOptions& o) {
  if (r.features.empty())
    throw Error("feat_vis export: no features; pass --export-feat LAYERS (e.g. --export-feat 5,11)");
  std::filesystem::create_directories(dir);
  const int64_t n = r.processed_images.size(0), h = r.processed_images.size(1), w = r.processed_images.size(2);
  for (const auto& [name, f] : r.features) {
    const Tensor rgb = pipeline::pca_rgb(f);  // (N, gh, gw, 3), one basis for all views
    const int64_t gh = rgb.size(1), gw = rgb.size(2);
    const std::string sub = (std::filesystem::path(dir) / name).string();
    std::filesystem::create_directories(sub);
    std::vector<std::vector<uint8_t>> frames;
    std::vector<uint8_t> up(size_t(h * w * 3));
    for (int64_t v = 0; v < n; ++v) {
      // Nearest-neighbour up to the image size, as cv2.resize(..., INTER_NEAREST) does.
      const uint8_t* src = rgb.data_as<uint8_t>() + v * gh * gw * 3;
      for (int64_t y = 0; y < h; ++y) {
        const int64_t sy = std::min(gh - 1, y * gh / h);
        for (int64_t x = 0; x < w; ++x) {
          const int64_t sx = std::min(gw - 1, x * gw / w);
          std::memcpy(up.data() + (y * w + x) * 3, src + (sy * gw + sx) * 3, 3);
        }
      }
      frames.push_back(side_by_side(view_image(r, v, "feat_vis"), up.data(), h, w));
      io::write_file_atomic(view_path(sub, r, v), io::encode_png_rgb8(frames.back().data(), int(2 * w), int(h)));
    }
    if (o.feat_vis_video) {
      std::vector<const uint8_t*> ptrs;
      for (const auto& fr : frames) ptrs.push_back(fr.data());
      io::write_avi_rgb((std::filesystem::path(dir) / (name + ".avi")).string(), ptrs, int(2 * w), int(h), o.feat_vis_fps);
    }
  }
}

}  // namespace da3
