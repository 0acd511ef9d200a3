// `da3 video`: frames sampled from a video at --fps frames per second of video time, run as
// the views of one scene, or in consecutive chunks of --chunk views (one scene each).
// Registration (apps/da3/da3_commands.hpp + main.cpp): Action add_video_command(CLI::App&).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "da3/error.hpp"
#include "da3/log.hpp"
#include "da3/pipeline.hpp"
#include "da3_commands.hpp"
#include "pipeline/video_frames.hpp"
#include "scene_commands.hpp"
#include "scene_runner.hpp"
#include "stream_runner.hpp"

namespace da3::cli {

CLI::Option* add_video_options(CLI::App* cmd, VideoArgs& a) {
  cmd->add_option("--fps", a.fps, "Frames sampled per second of video time (all frames if above the video's rate)")
      ->capture_default_str();
  return cmd->add_option("--chunk", a.chunk,
                         "Views per scene, at least 1: consecutive chunks of N frames run into OUT/chunk_0000, "
                         "OUT/chunk_0001, ...; without --chunk all sampled frames are one scene in OUT");
}

Action add_video_command(CLI::App& app) {
  auto o = std::make_shared<VideoArgs>();
  auto stream = std::make_shared<StreamArgs>();
  auto* cmd = app.add_subcommand("video", "Depth and cameras from frames sampled from a video (OpenCV/FFmpeg)");
  cmd->add_option("file", o->file, "Video file (anything FFmpeg decodes: mp4, mkv, avi, mov, webm, ...)")->required();
  CLI::Option* chunk = add_video_options(cmd, *o);
  add_scene_options(cmd, o->scene);
  add_stream_options(cmd, *stream);
  return [o, chunk, stream] {
    o->chunk_given = chunk->count() > 0;
    if (stream->enabled) {  // streaming reconstruction: stream_runner.cpp
      if (o->chunk_given) throw Error("--chunk and --stream exclude each other (--window sets the frames per window)");
      return run_video_stream(o->file, o->fps, o->scene, *stream);
    }
    if (stream->resume) throw Error("--resume continues a --stream run; add --stream");
    return run_video(*o);
  };
}

int run_video(const VideoArgs& a) {
  const VideoArgs* o = &a;
  // Arguments first, then the video is opened: both fail before the model loads.
  if (o->chunk_given && o->chunk < 1)
  throw Error("--chunk must be a positive number of views per scene, got " + std::to_string(o->chunk) +
              " (leave --chunk out to run all frames as one scene)");
  SceneRunner runner(o->scene, "video");
  VideoFrameSampler sampler(o->file, o->fps);
  Progress& progress = runner.progress();
  const size_t per_scene = o->chunk > 0 ? size_t(o->chunk) : SIZE_MAX;

  size_t scenes = 0, frames = 0;
  std::vector<RgbImage> views;
  RgbImage frame;
  bool more = true;
  progress.scene("scene 1");
  progress.stage("decoding frames");
  while (more) {
    more = sampler.next(frame);
    if (more) {
      views.push_back(std::move(frame));
      ++frames;
      if (views.size() < per_scene) continue;
    }
    if (views.empty()) break;
    progress.scene("scene " + std::to_string(scenes + 1) + " (" + views[0].name + " ...)");
    if (o->chunk == 0 && views.size() > 64)
      log_warn("running " + std::to_string(views.size()) + " frames as one scene; global attention grows with the "
               "square of the views: --chunk N or a lower --fps is faster and needs less memory");
    std::string out = o->scene.out;
    if (o->chunk > 0) {
      char name[32];
      std::snprintf(name, sizeof name, "chunk_%04zu", scenes);
      out = (std::filesystem::path(out) / name).string();
    }
    // The frames as files first (official: input_images/), so the exports name files that exist.
    progress.stage("writing " + std::to_string(views.size()) + " frames to input_images/");
    runner.record(write_input_images(views, (std::filesystem::path(out) / "input_images").string()));
    const PreprocessedBatch batch = preprocess(views, runner.preprocess_options());
    views.clear();
    runner.run(batch, out);
    ++scenes;
    progress.scene("scene " + std::to_string(scenes + 1));
    progress.stage("decoding frames");
  }
  if (frames == 0)
    throw Error("video '" + o->file + "' has no frame that could be decoded (" +
                std::to_string(sampler.frames_decoded()) + " read)");
  log_info(std::to_string(frames) + " frames sampled of " + std::to_string(sampler.frames_decoded()) + " decoded");
  runner.finish();
  return 0;
}

}  // namespace da3::cli
