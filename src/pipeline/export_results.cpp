// export_results: format names, the output layout, and whole-directory atomicity for the
// exports that write several files.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>

#include "da3/error.hpp"
#include "da3/log.hpp"
#include "da3/pipeline.hpp"
#include "io/atomic_file.hpp"
#include "io/avi.hpp"
#include "pipeline/export_gs_ply.hpp"
#include "pipeline/gs_render.hpp"

namespace da3 {

namespace fs = std::filesystem;

namespace {

// A fresh directory `<prefix>XXXXXX` created with mode 0777 less the umask, as mkdir(1) makes
// any folder. (mkdtemp makes 0700, which then stays when the folder is renamed into place: a
// depth_png/ other users cannot open although every file in it is readable.)
fs::path make_temp_dir(const std::string& prefix) {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string path = prefix;
    for (int i = 0; i < 6; ++i) path += kChars[rd() % (sizeof kChars - 1)];
    if (::mkdir(path.c_str(), 0777) == 0) return path;
    if (errno != EEXIST) break;
  }
  throw Error("cannot create a directory '" + prefix + "XXXXXX': " + std::strerror(errno));
}

// Builds a directory of files under a temporary name beside `final_dir`, then puts it in place
// with renames: readers see the old complete directory or the new complete one, never a mix.
void build_directory(const fs::path& final_dir, const std::function<void(const std::string&)>& fill) {
  const std::string hidden = std::string(".").append(final_dir.filename().string());
  const fs::path tmp = make_temp_dir((final_dir.parent_path() / (hidden + ".tmp-")).string());
  TempDirRegistration on_signal(tmp.string());  // a Ctrl-C while filling it removes it
  std::error_code ec;
  try {
    fill(tmp.string());
    fs::path old;
    if (fs::exists(final_dir)) {
      old = final_dir.parent_path() / (hidden + ".old-" + tmp.string().substr(tmp.string().size() - 6));
      fs::rename(final_dir, old);
    }
    fs::rename(tmp, final_dir);
    on_signal.release();
    if (!old.empty()) fs::remove_all(old, ec);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace

// What the Gaussian exporters read (they take the model's Prediction): depth (1, N, H, W) and gs_*.
static Prediction with_gaussians(const InferenceResult& r) {
  if (!r.gs_means.defined())
    throw Error("gs_ply / splat export: the result has no Gaussians (run with --gaussians, or infer_gs)");
  Prediction p;
  p.depth = r.depth.unsqueeze(0);
  p.gs_means = r.gs_means;
  p.gs_scales = r.gs_scales;
  p.gs_rotations = r.gs_rotations;
  p.gs_harmonics = r.gs_harmonics;
  p.gs_opacities = r.gs_opacities;
  return p;
}

void export_gs_ply(const InferenceResult& r, const std::string& path) { pipeline::export_gs_ply(with_gaussians(r), path); }
void export_gs_splat(const InferenceResult& r, const std::string& path) {
  pipeline::export_gs_splat(with_gaussians(r), path);
}

void export_gs_video(const InferenceResult& r, const std::string& path) {
  const Prediction g = with_gaussians(r);
  DA3_CHECK(r.extrinsics.defined() && r.intrinsics.defined(), "gs_video export: the result has no cameras to render from");
  const int H = static_cast<int>(r.depth.size(1)), W = static_cast<int>(r.depth.size(2));
  Tensor ext = r.extrinsics.contiguous().clone();
  // As the reference's export_to_gs_video: metric (nested) results render at the network's own
  // scale, in which the Gaussians were made.
  if (r.is_metric && r.scale_factor > 0)
    for (int64_t v = 0; v < ext.size(0); ++v)
      for (int i = 0; i < 3; ++i) ext.data_as<float>()[(v * 3 + i) * 4 + 3] /= r.scale_factor;
  std::vector<float> d0(r.depth.data_as<float>(), r.depth.data_as<float>() + int64_t(H) * W);
  std::nth_element(d0.begin(), d0.begin() + d0.size() / 2, d0.end());
  const auto path_cams = pipeline::preview_trajectory(ext, r.intrinsics, W, H, d0[d0.size() / 2]);
  const pipeline::GaussianSet set{g.gs_means, g.gs_scales, g.gs_rotations, g.gs_harmonics, g.gs_opacities};
  std::vector<std::vector<uint8_t>> frames;
  std::vector<const uint8_t*> ptrs;
  for (const auto& cam : path_cams) frames.push_back(pipeline::render_gaussians(set, cam));
  for (const auto& f : frames) ptrs.push_back(f.data());
  io::write_avi_rgb(path, ptrs, W, H, 24);
}

std::string view_file_stem(const InferenceResult& r, int64_t v) {
  char index[24];
  std::snprintf(index, sizeof index, "%04lld", static_cast<long long>(v));
  const std::string stem = v >= 0 && v < static_cast<int64_t>(r.views.size())
                               ? fs::path(r.views[static_cast<size_t>(v)].source).stem().string()
                               : std::string();
  return stem.empty() ? index : index + ("_" + stem);
}

std::vector<std::string> export_results(const InferenceResult& r, const std::string& out_dir,
                                        const std::vector<ExportFormat>& formats, const ExportOptions& o) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec || !fs::is_directory(out_dir)) throw Error("cannot create output directory '" + out_dir + "': " + ec.message());
  const fs::path out(out_dir);
  std::vector<std::string> written;
  for (ExportFormat f : formats) {
    switch (f) {
      case ExportFormat::Npz: export_npz(r, (out / "results.npz").string(), o); written.push_back((out / "results.npz").string()); break;
      case ExportFormat::MiniNpz:
        export_mini_npz(r, (out / "results_mini.npz").string());
        written.push_back((out / "results_mini.npz").string());
        break;
      case ExportFormat::DepthPng:
        build_directory(out / "depth_png", [&](const std::string& d) { export_depth_png(r, d, o); });
        written.push_back((out / "depth_png").string());
        break;
      case ExportFormat::Depth16:
        build_directory(out / "depth16", [&](const std::string& d) { export_depth16(r, d, o); });
        written.push_back((out / "depth16").string());
        break;
      case ExportFormat::Ply: export_ply(r, (out / "points.ply").string(), o); written.push_back((out / "points.ply").string()); break;
      case ExportFormat::Glb: export_glb(r, (out / "scene.glb").string(), o); written.push_back((out / "scene.glb").string()); break;
      case ExportFormat::DepthVis:
        build_directory(out / "depth_vis", [&](const std::string& d) { export_depth_vis(r, d); });
        written.push_back((out / "depth_vis").string());
        break;
      case ExportFormat::FeatVis:
        build_directory(out / "feat_vis", [&](const std::string& d) { export_feat_vis(r, d, o); });
        written.push_back((out / "feat_vis").string());
        break;
      case ExportFormat::Colmap:
        build_directory(out / "colmap", [&](const std::string& d) { export_colmap(r, d, o); });
        written.push_back((out / "colmap").string());
        break;
      case ExportFormat::GsPly:  // the reference's layout: gs_ply/0000.ply
        build_directory(out / "gs_ply", [&](const std::string& d) {
          export_gs_ply(r, (fs::path(d) / "0000.ply").string());
        });
        written.push_back((out / "gs_ply").string());
        break;
      case ExportFormat::GsVideo:
        build_directory(out / "gs_video", [&](const std::string& d) {
          export_gs_video(r, (fs::path(d) / "0000.avi").string());
        });
        written.push_back((out / "gs_video").string());
        break;
      case ExportFormat::Splat:
        export_gs_splat(r, (out / "scene.splat").string());
        written.push_back((out / "scene.splat").string());
        break;
    }
    log_info(std::string("exported ") + export_format_name(f) + " to " + written.back());
  }
  return written;
}

}  // namespace da3
