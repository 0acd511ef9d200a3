// `da3 auto INPUT`: picks the command from what INPUT is, as the official `da3 auto` does: a
// COLMAP dataset (a folder with images/ and sparse/) -> colmap; a folder of images -> infer (one
// scene); an image file -> infer; any other file -> video (which refuses what FFmpeg cannot
// read). Files are judged by their first bytes, not their extension, as everywhere in da3.
// Registration (apps/da3/da3_commands.hpp + main.cpp): Action add_auto_command(CLI::App&).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "da3/error.hpp"
#include "da3_commands.hpp"
#include "io/image_header.hpp"
#include "pipeline/colmap_dataset.hpp"
#include "scene_commands.hpp"

namespace da3::cli {

namespace {

namespace fs = std::filesystem;

bool is_image_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<uint8_t> head(64 * 1024);
  f.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(f.gcount()));
  return !head.empty() && io::read_image_header(head.data(), head.size()).format != io::ImageFormat::Unknown;
}

}  // namespace

Action add_auto_command(CLI::App& app) {
  struct Opts {
    std::string input;
    InferArgs infer;
    VideoArgs video;
    ColmapArgs colmap;
    SceneArgs scene;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("auto", "Pick the command from INPUT: COLMAP dataset -> colmap, folder of images or "
                                         "image -> infer, video file -> video");
  cmd->add_option("input", o->input, "An image, a folder of images, a video file, or a COLMAP dataset folder")
      ->required();
  add_scene_options(cmd, o->scene);
  CLI::Option* chunk = add_video_options(cmd, o->video);
  add_colmap_options(cmd, o->colmap);
  cmd->footer("--fps and --chunk apply to a video, --sparse-subdir to a COLMAP dataset; every other option to all.");
  return [o, chunk] {
    std::error_code ec;
    const fs::path p(o->input);
    if (!fs::exists(p, ec)) throw Error("'" + o->input + "' does not exist");
    const bool quiet = o->scene.quiet;
    auto say = [&](const char* what, const char* command) {
      if (!quiet) std::fprintf(stderr, "da3 auto: '%s' is %s -> da3 %s\n", o->input.c_str(), what, command);
    };
    if (fs::is_directory(p, ec)) {
      if (is_colmap_dataset(o->input)) {
        say("a COLMAP dataset", "colmap");
        o->colmap.dir = o->input;
        o->colmap.scene = o->scene;
        return run_colmap(o->colmap);
      }
      say("a folder of images", "infer");  // collect_image_paths says so if it holds none
    } else if (is_image_file(o->input)) {
      say("an image", "infer");
    } else {
      say("not an image (so, a video)", "video");
      o->video.file = o->input;
      o->video.chunk_given = chunk->count() > 0;
      o->video.scene = o->scene;
      return run_video(o->video);
    }
    o->infer.inputs = {o->input};
    o->infer.scene = o->scene;
    return run_infer(o->infer);
  };
}

}  // namespace da3::cli
