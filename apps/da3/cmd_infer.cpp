// `da3 infer`: images in, exports out. All inputs of one call are the views of one scene
// (--views all), or each image is run on its own (--views single, one output folder each).
// Registration (apps/da3/da3_commands.hpp + main.cpp): Action add_infer_command(CLI::App&).
// The model/export options and the run itself are shared with `da3 video` (scene_runner.hpp).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"
#include "io/npz.hpp"
#include "da3_commands.hpp"
#include "scene_commands.hpp"
#include "scene_runner.hpp"
#include "stream_runner.hpp"

namespace da3::cli {

void add_infer_options(CLI::App* cmd, InferArgs& a) {
  cmd->add_option("--views", a.views, "all: one multi-view scene; single: each image on its own")
      ->check(CLI::IsMember({"all", "single"}))
      ->capture_default_str();
  cmd->add_option("--poses", a.poses,
                  "Input cameras: .npz (np.savez) with extrinsics (N,4,4) world-to-camera, intrinsics (N,3,3) in "
                  "input-image pixels; or a results.npz of da3 infer (its source_intrinsics are used)");
}

Action add_infer_command(CLI::App& app) {
  auto o = std::make_shared<InferArgs>();
  auto stream = std::make_shared<StreamArgs>();
  // `image` and `images` are the official CLI's names for the same job (CLI11 lists aliases).
  auto* cmd = app.add_subcommand("infer", "Depth, cameras and point clouds from images (files, directories, globs)");
  cmd->alias("image");
  cmd->alias("images");
  cmd->add_option("inputs", o->inputs, "Images, directories of images, or glob patterns")->required();
  add_scene_options(cmd, o->scene);
  add_infer_options(cmd, *o);
  add_stream_options(cmd, *stream);
  return [o, stream] {
    if (stream->enabled) {  // streaming reconstruction of an ordered sequence: stream_runner.cpp
      if (!o->poses.empty() || o->views != "all")
        throw Error("--stream takes neither --poses nor --views single (each window is one multi-view scene)");
      return run_image_stream(o->inputs, o->scene, *stream);
    }
    if (stream->resume) throw Error("--resume continues a --stream run; add --stream");
    return run_infer(*o);
  };
}

int run_infer(const InferArgs& a) {
  const InferArgs* o = &a;
  // Everything that can be wrong with the arguments is found before the model loads.
  SceneRunner runner(o->scene, "infer");
  CameraInputs cams;
  if (!o->poses.empty()) {
    if (o->views == "single") throw Error("--poses needs --views all (the poses are those of the whole scene)");
    const auto z = io::read_npz(o->poses);
    if (!z.count("extrinsics") || !z.count("intrinsics"))
      throw Error("poses file '" + o->poses + "' must hold 'extrinsics' (N, 4, 4) or (N, 3, 4) world-to-camera "
                  "and 'intrinsics' (N, 3, 3) in pixels of the input images");
    cams.extrinsics = z.at("extrinsics");
    cams.intrinsics = z.at("intrinsics");
    // A results.npz of ours carries the cameras in source pixels too (source_intrinsics): its
    // `intrinsics` are in processed pixels (as the reference stores them), which read as
    // source pixels would silently give wrong poses.
    if (z.count("source_intrinsics")) {
      cams.intrinsics = z.at("source_intrinsics");
    } else if (z.count("image")) {
      throw Error("poses file '" + o->poses + "' is a results.npz whose 'intrinsics' are in pixels of the processed "
                  "views, not of the input images (the reference's npz, or da3's before source_intrinsics was "
                  "added); rerun da3 infer to get a results.npz with source_intrinsics, or write the poses with "
                  "intrinsics in input-image pixels");
    }
  }
  const std::vector<std::string> paths = collect_image_paths(o->inputs);

  std::vector<std::vector<std::string>> runs;
  if (o->views == "single")
    for (const auto& p : paths) runs.push_back({p});
  else
    runs.push_back(paths);
  const std::string& out_root = o->scene.out;
  Progress& progress = runner.progress();
  for (size_t i = 0; i < runs.size(); ++i) {
    if (runs.size() > 1) progress.scene("[" + std::to_string(i + 1) + "/" + std::to_string(runs.size()) + "] " + runs[i][0]);
    progress.stage("reading " + std::to_string(runs[i].size()) + (runs[i].size() == 1 ? " image" : " images"));
    const PreprocessedBatch batch = preprocess(runs[i], runner.preprocess_options(), cams);
    std::string out = out_root;
    if (o->views == "single") {
      char idx[16];
      std::snprintf(idx, sizeof idx, "%04zu_", i);
      out = (std::filesystem::path(out_root) / (idx + std::filesystem::path(runs[i][0]).stem().string())).string();
    }
    runner.run(batch, out);
  }
  runner.finish();
  return 0;
}

}  // namespace da3::cli
