// See scene_runner.hpp.
#include "scene_runner.hpp"

#include <cstdlib>

#include "da3/attention.hpp"
#include "da3/error.hpp"
#include "io/atomic_file.hpp"
#include "model_path.hpp"

namespace da3::cli {

void add_scene_options(CLI::App* cmd, SceneArgs& o) {
  cmd->add_option("-m,--model,--model-dir", o.model, "Model: its folder (config.json + model.safetensors), the path of its model.safetensors, or a name "
                  "`da3 pull` fetched (DA3-SMALL: $DA3_MODELS_DIR/DA3-SMALL, default models/); default $DA3_MODEL");
  cmd->add_option("-o,--out,--export-dir", o.out, "Output directory")->capture_default_str();
  cmd->add_option("-f,--format,--export-format", o.formats, "Comma-separated: npz, mini_npz, depth_png, depth16, ply, glb, colmap")
      ->capture_default_str();
  cmd->add_option("--process-res", o.process_res, "Processing resolution")->capture_default_str();
  cmd->add_option("--process-res-method", o.method,
                  "upper_bound_resize, lower_bound_resize, upper_bound_crop, lower_bound_crop")
      ->capture_default_str();
  cmd->add_flag("--ray-pose,--use-ray-pose", o.ray_pose, "Poses from the ray head instead of the camera decoder");
  cmd->add_option("--ref-view", o.ref_view, "first, middle, saddle_balanced, saddle_sim_range")->capture_default_str();
  cmd->add_option("--backend", o.backend, "Attention backend: auto, flash_attn, sdpa, manual")->capture_default_str();
  cmd->add_option("--device", o.device, kDeviceHelp)->capture_default_str();
  cmd->add_option("--precision", o.precision, "fp32 (bf16 is accepted here but not implemented yet: the model refuses it)")->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  cmd->add_option("--conf-percentile", o.conf_percentile, "ply/glb/colmap: confidence percentile kept from")
      ->capture_default_str();
  cmd->add_option("--max-points", o.max_points, "ply/glb: most points written")->capture_default_str();
  // glb shows the cameras by default, as the official export does; --show-cameras is accepted
  // for scripts written against the official CLI.
  cmd->add_flag_callback("--show-cameras", [&o] { o.show_cameras = true; }, "glb: draw each view's camera (default)");
  cmd->add_flag_callback("--no-cameras,--no-show-cameras", [&o] { o.show_cameras = false; },
                         "glb: points only, no camera frustums");
  cmd->add_flag("--overwrite", o.overwrite,
                "Replace a previous run's outputs in OUT: the files its manifest (OUT/da3_manifest.json) lists "
                "are removed after this run succeeded, nothing else; without it such a folder is refused");
  cmd->add_flag("-q,--quiet", o.quiet, "No progress on stderr");
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

SceneRunner::SceneRunner(const SceneArgs& o, const std::string& command) {
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
  model_dir_ = resolve_model_dir(o.model);
  // Where the outputs go is checked now, not after the whole inference ran.
  check_output_dir(o.out);
  manifest_ = std::make_unique<RunManifest>(o.out, command, o.overwrite);
  model_options_.precision = o.precision == "bf16" ? Precision::BF16 : Precision::F32;
  parse_device(o.device, model_options_);
  forward_.attention_backend = *backend;
  forward_.use_ray_pose = o.ray_pose;
  forward_.ref_view_strategy = o.ref_view;
  export_.conf_thresh_percentile = o.conf_percentile;
  export_.num_max_points = o.max_points;
  export_.show_cameras = o.show_cameras;
}

SceneRunner::~SceneRunner() = default;

std::vector<std::string> SceneRunner::run(const PreprocessedBatch& batch, const std::string& out_dir) {
  ForwardOptions f = forward_;
  if (batch.extrinsics.defined()) {  // api.py: normalised poses in, output aligned back to them
    f.extrinsics = normalize_input_extrinsics(batch.extrinsics);
    f.intrinsics = batch.intrinsics;
  }
  if (!model_) model_ = std::make_unique<Model>(Model::load(model_dir_, model_options_));
  InferenceResult r = postprocess(model_->forward(batch.image, f), batch);
  align_to_input_cameras(r, batch);
  auto written = export_results(r, out_dir, formats_, export_);
  manifest_->record(written);
  return written;
}

}  // namespace da3::cli
