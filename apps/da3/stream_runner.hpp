#pragma once
// `da3 video FILE --stream` and `da3 infer DIR --stream`: the CLI side of streaming
// reconstruction (src/pipeline/stream/). The commands add these options and hand over when
// --stream is given; everything else (windows, alignment, outputs, resume) lives here and in
// the library. docs/streaming.md is the user's page.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "scene_runner.hpp"

namespace da3::cli {

struct StreamArgs {
  bool enabled = false, resume = false;
  int window = 32, overlap = 8;
  double voxel = 0;
};

// --stream, --window, --overlap, --voxel, --resume.
void add_stream_options(CLI::App* cmd, StreamArgs& args);

// The whole stream of a video, sampled at `fps` frames per second of video time.
int run_video_stream(const std::string& file, double fps, const SceneArgs& scene, const StreamArgs& args);
// The whole stream of an ordered image sequence (directories and globs in natural order).
int run_image_stream(const std::vector<std::string>& inputs, const SceneArgs& scene, const StreamArgs& args);

}  // namespace da3::cli
