// `da3 infer`: images in, exports out. All inputs of one call are the views of one scene
// (--views all), or each image is run on its own (--views single, one output folder each).
// Registration (apps/da3/da3_commands.hpp + main.cpp): Action add_infer_command(CLI::App&).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "da3/attention.hpp"
#include "da3/error.hpp"
#include "da3/model.hpp"
#include "da3/pipeline.hpp"
#include "io/npz.hpp"
#include "da3_commands.hpp"

namespace da3::cli {

Action add_infer_command(CLI::App& app) {
  struct Opts {
    std::vector<std::string> inputs;
    std::string model, out = "da3_out", formats = "npz", method = "upper_bound_resize", views = "all";
    std::string poses, ref_view = "saddle_balanced", backend = "auto", precision = "fp32";
    int process_res = 504;
    float conf_percentile = 40.f;
    int64_t max_points = 1'000'000;
    bool ray_pose = false, quiet = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("infer", "Depth, cameras and point clouds from images (files, directories, globs)");
  cmd->add_option("inputs", o->inputs, "Images, directories of images, or glob patterns")->required();
  cmd->add_option("-m,--model", o->model, "Model directory (config.json + model.safetensors); default $DA3_MODEL");
  cmd->add_option("-o,--out", o->out, "Output directory")->capture_default_str();
  cmd->add_option("-f,--format", o->formats, "Comma-separated: npz, mini_npz, depth_png, depth16, ply, glb, colmap")
      ->capture_default_str();
  cmd->add_option("--process-res", o->process_res, "Processing resolution")->capture_default_str();
  cmd->add_option("--process-res-method", o->method,
                  "upper_bound_resize, lower_bound_resize, upper_bound_crop, lower_bound_crop")
      ->capture_default_str();
  cmd->add_option("--views", o->views, "all: one multi-view scene; single: each image on its own")
      ->check(CLI::IsMember({"all", "single"}))
      ->capture_default_str();
  cmd->add_option("--poses", o->poses,
                  "Input cameras: .npz (np.savez) with extrinsics (N,4,4) world-to-camera, intrinsics (N,3,3)");
  cmd->add_flag("--ray-pose", o->ray_pose, "Poses from the ray head instead of the camera decoder");
  cmd->add_option("--ref-view", o->ref_view, "first, middle, saddle_balanced, saddle_sim_range")->capture_default_str();
  cmd->add_option("--backend", o->backend, "Attention backend: auto, flash_attn, sdpa, manual")->capture_default_str();
  cmd->add_option("--precision", o->precision, "fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  cmd->add_option("--conf-percentile", o->conf_percentile, "ply/glb/colmap: confidence percentile kept from")
      ->capture_default_str();
  cmd->add_option("--max-points", o->max_points, "ply/glb: most points written")->capture_default_str();
  cmd->add_flag("-q,--quiet", o->quiet, "No progress on stderr");

  return [o] {
    // Everything that can be wrong with the arguments is found before the model loads.
    const auto formats = parse_export_formats(o->formats);
    PreprocessOptions pre;
    pre.process_res = o->process_res;
    pre.method = parse_resize_method(o->method);
    const auto backend = parse_attention_backend(o->backend);
    if (!backend) throw Error("unknown attention backend '" + o->backend + "'; use auto, flash_attn, sdpa or manual");
    CameraInputs cams;
    if (!o->poses.empty()) {
      if (o->views == "single") throw Error("--poses needs --views all (the poses are those of the whole scene)");
      const auto z = io::read_npz(o->poses);
      if (!z.count("extrinsics") || !z.count("intrinsics"))
        throw Error("poses file '" + o->poses + "' must hold 'extrinsics' (N, 4, 4) or (N, 3, 4) world-to-camera "
                    "and 'intrinsics' (N, 3, 3) in pixels of the input images");
      cams.extrinsics = z.at("extrinsics");
      cams.intrinsics = z.at("intrinsics");
    }
    std::string model_dir = o->model;
    if (model_dir.empty()) {
      const char* env = std::getenv("DA3_MODEL");
      if (!env || !*env)
        throw Error("no model: pass --model DIR or set DA3_MODEL (get DA3-SMALL with `da3 pull depth-anything/DA3-SMALL`)");
      model_dir = env;
    }
    const std::vector<std::string> paths = collect_image_paths(o->inputs);

    ModelOptions mo;
    mo.precision = o->precision == "bf16" ? Precision::BF16 : Precision::F32;
    std::unique_ptr<Model> model;  // loaded after the first batch is preprocessed: bad inputs fail fast
    ForwardOptions fwd;
    fwd.attention_backend = *backend;
    fwd.use_ray_pose = o->ray_pose;
    fwd.ref_view_strategy = o->ref_view;
    ExportOptions ex;
    ex.conf_thresh_percentile = o->conf_percentile;
    ex.num_max_points = o->max_points;

    std::vector<std::vector<std::string>> runs;
    if (o->views == "single")
      for (const auto& p : paths) runs.push_back({p});
    else
      runs.push_back(paths);
    const bool progress = !o->quiet && runs.size() > 1 && ::isatty(2);
    for (size_t i = 0; i < runs.size(); ++i) {
      if (progress) std::fprintf(stderr, "\r[%zu/%zu] %s\033[K", i + 1, runs.size(), runs[i][0].c_str());
      const PreprocessedBatch batch = preprocess(runs[i], pre, cams);
      ForwardOptions f = fwd;
      if (batch.extrinsics.defined()) {  // api.py: normalised poses in, output aligned back to them
        f.extrinsics = normalize_input_extrinsics(batch.extrinsics);
        f.intrinsics = batch.intrinsics;
      }
      if (!model) model = std::make_unique<Model>(Model::load(model_dir, mo));
      InferenceResult r = postprocess(model->forward(batch.image, f), batch);
      align_to_input_cameras(r, batch);
      std::string out = o->out;
      if (o->views == "single") {
        char idx[16];
        std::snprintf(idx, sizeof idx, "%04zu_", i);
        out = (std::filesystem::path(o->out) / (idx + std::filesystem::path(runs[i][0]).stem().string())).string();
      }
      const auto written = export_results(r, out, formats, ex);
      if (!o->quiet && !progress)
        for (const auto& w : written) std::fprintf(stderr, "wrote %s\n", w.c_str());
    }
    if (progress) std::fprintf(stderr, "\n%zu runs written under %s\n", runs.size(), o->out.c_str());
    return 0;
  };
}

}  // namespace da3::cli
