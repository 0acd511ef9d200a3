// See scene_runner.hpp.
#include "scene_runner.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "da3/attention.hpp"
#include "da3/error.hpp"
#include "io/atomic_file.hpp"
#include "model_path.hpp"

namespace da3::cli {

void add_scene_options(CLI::App* cmd, SceneArgs& o) {
  cmd->add_option("-m,--model,--model-dir", o.model, "Model: its folder (config.json + model.safetensors), the path of its model.safetensors, or a name "
                  "`da3 pull` fetched (DA3-SMALL: $DA3_MODELS_DIR/DA3-SMALL, default models/); default $DA3_MODEL");
  cmd->add_option("-o,--out,--export-dir", o.out, "Output directory")->capture_default_str();
  cmd->add_option("-f,--format,--export-format", o.formats,
                  "Joined by ',' or '-': npz, mini_npz, depth_png, depth16, ply, glb, colmap, depth_vis, feat_vis, "
                  "gs_ply, splat, gs_video (the last three: 3D Gaussians, DA3-GIANT and DA3NESTED-GIANT-LARGE only)")
      ->capture_default_str();
  cmd->add_flag("--gaussians,--infer-gs", o.gaussians,
                "Run the 3D Gaussian head (presets with one: da3-giant, da3nested-giant-large) and export its "
                "Gaussians: gs_ply (OUT/gs_ply/0000.ply, the reference's layout) unless -f names gs_ply or splat "
                "(OUT/scene.splat, for web splat viewers) or gs_video (OUT/gs_video/0000.avi, a preview rendered on the "
                "CPU along the input cameras); any of those formats alone turns the head on too");
  cmd->add_option("--process-res", o.process_res, "Processing resolution")->capture_default_str();
  cmd->add_option("--process-res-method", o.method,
                  "upper_bound_resize, lower_bound_resize, upper_bound_crop, lower_bound_crop")
      ->capture_default_str();
  cmd->add_flag("--ray-pose,--use-ray-pose", o.ray_pose, "Poses from the ray head instead of the camera decoder");
  cmd->add_option("--ref-view", o.ref_view, "first, middle, saddle_balanced, saddle_sim_range")->capture_default_str();
  cmd->add_option("--backend", o.backend, "Attention backend: auto, flash_attn, sdpa, manual")->capture_default_str();
  cmd->add_option("--device", o.device, kDeviceHelp)->capture_default_str();
  cmd->add_option("--precision", o.precision, kPrecisionHelp)->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  cmd->add_option("--conf-percentile", o.conf_percentile, "ply/glb/colmap: confidence percentile kept from")
      ->capture_default_str();
  cmd->add_option("--max-points", o.max_points, "ply/glb: most points written")->capture_default_str();
  // glb shows the cameras by default, as the official export does; --show-cameras is accepted
  // for scripts written against the official CLI.
  cmd->add_flag_callback("--show-cameras", [&o] { o.show_cameras = true; }, "glb: draw each view's camera (default)");
  cmd->add_flag_callback("--no-cameras,--no-show-cameras", [&o] { o.show_cameras = false; },
                         "glb: points only, no camera frustums");
  cmd->add_option("--export-feat", o.export_feat,
                  "Backbone layers (0-based, e.g. 5,11) whose features to export: npz keys feat_layer_<i> "
                  "(N, H/14, W/14, C), and what feat_vis shows");
  cmd->add_option("--feat-vis-fps", o.feat_vis_fps, "feat_vis: frame rate of the per-layer video (video input)")
      ->capture_default_str();
  cmd->add_flag("--original-size", o.original_size,
                "Depth at each source image's size: depth_png and depth16 per view; npz adds depth_original and "
                "conf_original (all views of one source size)");
  cmd->add_flag("--overwrite", o.overwrite,
                "Replace a previous run's outputs in OUT: the files its manifest (OUT/da3_manifest.json) lists "
                "are removed after this run succeeded, nothing else; without it such a folder is refused");
  cmd->add_flag("-q,--quiet", o.quiet,
                "No progress line (stderr, on a terminal) and no summary line (stdout); warnings and errors still show");
}

void parse_precision(const std::string& text, ModelOptions& o) {
  if (text == "fp32") o.precision = Precision::F32;
  else if (text == "bf16") o.precision = Precision::BF16;
  else throw Error("--precision: '" + text + "' is not fp32 or bf16");
}

void parse_device(const std::string& text, ModelOptions& o) {
  if (text == "cpu") {
    o.device = Device::CPU;
    return;
  }
  if (text == "cuda") {
    o.device = Device::CUDA;
    o.device_index = 0;
    return;
  }
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() <= 8 &&
      text.find_first_not_of("0123456789", 5) == std::string::npos) {
    o.device = Device::CUDA;
    o.device_index = std::stoi(text.substr(5));
    return;
  }
  throw Error("--device: '" + text + "' is not cpu, cuda or cuda:N");
}

SceneRunner::SceneRunner(const SceneArgs& o, const std::string& command)
    : progress_(o.quiet), quiet_(o.quiet), command_(command), out_root_(o.out) {
  formats_ = parse_export_formats(o.formats);
  // Written as !(inside) so that NaN is refused too.
  if (!(o.conf_percentile >= 0.f && o.conf_percentile <= 100.f))
    throw Error("--conf-percentile must be a percentile in [0, 100], got " + CLI::detail::to_string(o.conf_percentile));
  if (o.max_points < 1)
    throw Error("--max-points must be at least 1 (the most points ply/glb keep), got " + std::to_string(o.max_points));
  if (o.process_res < 14 || o.process_res > kMaxProcessRes)
    throw Error("--process-res must be in [14, " + std::to_string(kMaxProcessRes) + "] (the model was trained at 504), got " +
                std::to_string(o.process_res));
  pre_.process_res = o.process_res;
  pre_.method = parse_resize_method(o.method);
  const auto backend = parse_attention_backend(o.backend);
  if (!backend) throw Error("unknown attention backend '" + o.backend + "'; use auto, flash_attn, sdpa or manual");
  // Where the outputs go is checked now, not after the whole inference ran.
  check_output_dir(o.out);
  manifest_ = std::make_unique<RunManifest>(o.out, command, o.overwrite);
  // The model is found (not loaded) after the output: a wrong -o is reported first, whatever -m says.
  model_dir_ = resolve_model_dir(o.model);
  parse_precision(o.precision, model_options_);
  parse_device(o.device, model_options_);
  forward_.attention_backend = *backend;
  forward_.use_ray_pose = o.ray_pose;
  forward_.ref_view_strategy = o.ref_view;
  export_.conf_thresh_percentile = o.conf_percentile;
  export_.num_max_points = o.max_points;
  export_.show_cameras = o.show_cameras;
  export_.original_size = o.original_size;
  export_.feat_vis_video = command == "video";  // frames of a video: feat_vis makes a video too
  if (!(o.feat_vis_fps > 0 && o.feat_vis_fps <= 1000))
    throw Error("--feat-vis-fps must be in (0, 1000], got " + CLI::detail::to_string(o.feat_vis_fps));
  export_.feat_vis_fps = o.feat_vis_fps;
  for (size_t start = 0; start < o.export_feat.size();) {
    const size_t end = std::min(o.export_feat.find(',', start), o.export_feat.size());
    const std::string item = o.export_feat.substr(start, end - start);
    if (item.empty() || item.size() > 4 || item.find_first_not_of("0123456789") != std::string::npos)
      throw Error("--export-feat takes layer numbers joined by ',' (e.g. 5,11), got '" + o.export_feat + "'");
    forward_.export_feat_layers.push_back(std::stoi(item));
    start = end + 1;
  }
  // The Gaussian head: asked for by --gaussians or by a format that needs its output.
  const auto wants = [&](ExportFormat f) { return std::find(formats_.begin(), formats_.end(), f) != formats_.end(); };
  const bool gs_format = wants(ExportFormat::GsPly) || wants(ExportFormat::Splat) || wants(ExportFormat::GsVideo);
  forward_.infer_gs = o.gaussians || gs_format;
  if (o.gaussians && !gs_format) formats_.push_back(ExportFormat::GsPly);
  if (std::find(formats_.begin(), formats_.end(), ExportFormat::FeatVis) != formats_.end() &&
      forward_.export_feat_layers.empty())
    throw Error("feat_vis shows exported features: pass --export-feat LAYERS too (e.g. --export-feat 5,11)");
}

SceneRunner::~SceneRunner() = default;

std::vector<std::string> SceneRunner::run(const PreprocessedBatch& batch, const std::string& out_dir) {
  ForwardOptions f = forward_;
  if (batch.extrinsics.defined()) {  // api.py: normalised poses in, output aligned back to them
    f.extrinsics = normalize_input_extrinsics(batch.extrinsics);
    f.intrinsics = batch.intrinsics;
  }
  // Found before the model runs, not after.
  if (export_.original_size && std::find(formats_.begin(), formats_.end(), ExportFormat::Npz) != formats_.end())
    common_source_size(batch.views);
  if (!model_) {
    progress_.stage("loading " + model_dir_);
    model_ = std::make_unique<Model>(Model::load(model_dir_, model_options_));
  }
  const int64_t n = batch.image.size(1);
  size_ = std::to_string(batch.image.size(4)) + "x" + std::to_string(batch.image.size(3));
  progress_.stage("forward: " + std::to_string(n) + (n == 1 ? " view " : " views ") + size_);
  InferenceResult r = postprocess(model_->forward(batch.image, f), batch);
  align_to_input_cameras(r, batch);
  std::string names;
  for (ExportFormat e : formats_) names += std::string(names.empty() ? "" : ", ") + export_format_name(e);
  progress_.stage("writing " + names);
  auto written = export_results(r, out_dir, formats_, export_);
  record(written);
  views_ += size_t(n);
  ++scenes_;
  return written;
}

void SceneRunner::record(const std::vector<std::string>& written) {
  manifest_->record(written);
  // The summary names what the run put in the output folder: its files, or its subfolders
  // (one per scene for --views single and --chunk).
  for (const std::string& w : written) {
    const std::string rel = std::filesystem::path(w).lexically_relative(out_root_).string();
    const std::string top = rel.substr(0, rel.find('/')) + (rel.find('/') != std::string::npos ||
                                                             std::filesystem::is_directory(w) ? "/" : "");
    if (std::find(top_level_.begin(), top_level_.end(), top) == top_level_.end()) top_level_.push_back(top);
  }
}

void SceneRunner::finish() {
  manifest_->finish();
  progress_.end();
  if (quiet_) return;
  std::string where;
  for (size_t i = 0; i < top_level_.size(); ++i) {
    if (i == 3 && top_level_.size() > 4) {
      where += ", ... " + std::to_string(top_level_.size() - 3) + " more";
      break;
    }
    where += (i ? ", " : "") + top_level_[i];
  }
  std::printf("da3 %s: %zu %s at %s%s in %.1f s -> %s/ (%s)\n", command_.c_str(), views_, views_ == 1 ? "view" : "views",
              size_.c_str(), scenes_ > 1 ? (" in " + std::to_string(scenes_) + " scenes").c_str() : "",
              progress_.elapsed_s(), out_root_.c_str(), where.c_str());
  std::fflush(stdout);
}

}  // namespace da3::cli
