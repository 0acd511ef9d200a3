// colmap: the reference's export/colmap.py model (one PINHOLE camera per view at the source
// image's size, predicted poses, one 3-D point per confident pixel), in text and binary.
#include <cstdio>
#include <filesystem>
#include <set>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"
#include "io/colmap.hpp"
#include "pipeline/point_cloud.hpp"

namespace da3 {

namespace {

// COLMAP needs unique image names; the reference uses the file's base name.
std::vector<std::string> image_names(const InferenceResult& r) {
  const size_t n = static_cast<size_t>(r.depth.size(0));
  std::vector<std::string> names(n);
  std::set<std::string> seen, dup;
  for (size_t v = 0; v < n; ++v) {
    const std::string src = v < r.views.size() ? r.views[v].source : "";
    names[v] = src.empty() ? "" : std::filesystem::path(src).filename().string();
    if (names[v].empty()) {
      char b[32];
      std::snprintf(b, sizeof b, "view_%04zu.png", v);
      names[v] = b;
    }
    if (!seen.insert(names[v]).second) dup.insert(names[v]);
  }
  for (size_t v = 0; v < n; ++v)
    if (dup.count(names[v])) {
      char b[32];
      std::snprintf(b, sizeof b, "%04zu_", v);
      names[v] = b + names[v];
    }
  return names;
}

}  // namespace

void export_colmap(const InferenceResult& r, const std::string& dir, const ExportOptions& o) {
  pipeline::require_cameras(r, "colmap");
  const int64_t n = r.depth.size(0);
  DA3_CHECK(static_cast<int64_t>(r.views.size()) == n, "colmap export: the result has no view information");
  const pipeline::PointCloud pc = pipeline::world_points(r, pipeline::colmap_conf_threshold(r, o));
  const std::vector<std::string> names = image_names(r);

  io::ColmapModel m;
  for (int64_t v = 0; v < n; ++v) {
    const ViewInfo& vi = r.views[static_cast<size_t>(v)];
    const double sx = vi.scale_x(), sy = vi.scale_y();
    const float* k = r.intrinsics.data_as<float>() + v * 9;
    // Intrinsics of the source image: undo preprocess's crop shift and scaling.
    io::ColmapCamera cam;
    cam.id = static_cast<uint32_t>(v + 1);
    cam.width = static_cast<uint64_t>(vi.orig_width);
    cam.height = static_cast<uint64_t>(vi.orig_height);
    cam.params = {k[0] / sx, k[4] / sy, (k[2] + vi.crop_x) / sx, (k[5] + vi.crop_y) / sy};
    m.cameras.push_back(cam);

    const float* e = r.extrinsics.data_as<float>() + v * 12;
    const double rot[9] = {e[0], e[1], e[2], e[4], e[5], e[6], e[8], e[9], e[10]};
    io::ColmapImage im;
    im.id = cam.id;
    im.camera_id = cam.id;
    im.qvec = io::rotation_to_quaternion(rot);
    im.tvec = {e[3], e[7], e[11]};
    im.name = names[static_cast<size_t>(v)];
    m.images.push_back(std::move(im));
  }
  m.points.reserve(pc.size());
  for (size_t i = 0; i < pc.size(); ++i) {
    const ViewInfo& vi = r.views[static_cast<size_t>(pc.view[i])];
    io::ColmapImage& im = m.images[static_cast<size_t>(pc.view[i])];
    io::ColmapPoint p;
    p.id = i + 1;
    p.xyz = {pc.xyz[i * 3], pc.xyz[i * 3 + 1], pc.xyz[i * 3 + 2]};
    p.rgb = {pc.rgb[i * 3], pc.rgb[i * 3 + 1], pc.rgb[i * 3 + 2]};
    p.image_id = im.id;
    p.point2d_idx = static_cast<uint32_t>(im.point3d_id.size());
    // The pixel in source-image coordinates, consistent with the camera above. (The reference
    // truncates these to integers, a bug of its in-place int32 arithmetic.)
    im.xy.push_back((pc.px[i] + vi.crop_x) / vi.scale_x());
    im.xy.push_back((pc.py[i] + vi.crop_y) / vi.scale_y());
    im.point3d_id.push_back(p.id);
    m.points.push_back(p);
  }
  std::filesystem::create_directories(dir);
  const std::string bin = (std::filesystem::path(dir) / "sparse" / "0").string();
  const std::string text = (std::filesystem::path(dir) / "text").string();
  std::filesystem::create_directories(bin);
  std::filesystem::create_directories(text);
  io::write_colmap_binary(bin, m);
  io::write_colmap_text(text, m);
}

}  // namespace da3
