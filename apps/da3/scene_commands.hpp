#pragma once
// The commands that run scenes (infer, video, colmap), as functions of their parsed options, so
// that `da3 auto` can hand its input to the one that fits. Each add_*_options adds the
// command's own options (beside add_scene_options) to a CLI11 app.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "scene_runner.hpp"

namespace da3::cli {

struct InferArgs {
  std::vector<std::string> inputs;
  std::string views = "all", poses;
  SceneArgs scene;
};
void add_infer_options(CLI::App* cmd, InferArgs& a);  // --views, --poses
int run_infer(const InferArgs& a);

struct VideoArgs {
  std::string file;
  double fps = 1.0;
  int chunk = 0;
  bool chunk_given = false;  // --chunk was on the command line (0 given is an error, absent is one scene)
  SceneArgs scene;
};
CLI::Option* add_video_options(CLI::App* cmd, VideoArgs& a);  // --fps, --chunk (returned)
int run_video(const VideoArgs& a);

struct ColmapArgs {
  std::string dir, sparse_subdir;
  SceneArgs scene;
};
void add_colmap_options(CLI::App* cmd, ColmapArgs& a);  // --sparse-subdir
int run_colmap(const ColmapArgs& a);

}  // namespace da3::cli
