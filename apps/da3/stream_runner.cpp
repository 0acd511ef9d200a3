// See stream_runner.hpp.
#include "stream_runner.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>

#include "da3/attention.hpp"
#include "da3/error.hpp"
#include "da3/log.hpp"
#include "io/atomic_file.hpp"
#include "pipeline/stream/image_sequence.hpp"
#include "pipeline/stream/stream_outputs.hpp"
#include "pipeline/video_frames.hpp"

namespace da3::cli {

void add_stream_options(CLI::App* cmd, StreamArgs& a) {
  cmd->add_flag("--stream", a.enabled,
                "Streaming reconstruction in one world frame: sliding windows of --window frames sharing --overlap, "
                "each aligned to the one before by a robust Sim(3) (docs/streaming.md). Writes frames/, depth/, "
                "trajectory.json; -f ply,glb,colmap add a voxel-fused cloud and a COLMAP model");
  cmd->add_option("--window", a.window, "--stream: frames per window (one multi-view forward each)")
      ->check(CLI::Range(2, 4096))
      ->capture_default_str();
  cmd->add_option("--overlap", a.overlap, "--stream: frames each window shares with the one before (at least 1, below --window)")
      ->check(CLI::Range(1, 4095))
      ->capture_default_str();
  cmd->add_option("--voxel", a.voxel,
                  "--stream: voxel size of the fused cloud in world units; 0 = 1/200 of the first frame's median depth")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  cmd->add_flag("--resume", a.resume, "--stream: continue the interrupted stream in -o from its last finished window");
}

namespace {

// One multi-view forward per window through the public pipeline API, as SceneRunner runs a
// scene (preprocess -> Model::forward -> postprocess); the model loads on the first window.
class ModelPredictor : public stream::WindowPredictor {
 public:
  explicit ModelPredictor(const SceneArgs& o) {
    if (o.process_res < 14 || o.process_res > kMaxProcessRes)
      throw Error("--process-res must be in [14, " + std::to_string(kMaxProcessRes) + "], got " +
                  std::to_string(o.process_res));
    pre_.process_res = o.process_res;
    pre_.method = parse_resize_method(o.method);
    const auto backend = parse_attention_backend(o.backend);
    if (!backend) throw Error("unknown attention backend '" + o.backend + "'; use auto, flash_attn, sdpa or manual");
    dir_ = o.model;
    if (dir_.empty()) {
      const char* env = std::getenv("DA3_MODEL");
      if (!env || !*env)
        throw Error("no model: pass --model DIR or set DA3_MODEL (get DA3-SMALL with `da3 pull DA3-SMALL`)");
      dir_ = env;
    }
    mo_.precision = o.precision == "bf16" ? Precision::BF16 : Precision::F32;
    parse_device(o.device, mo_);
    fo_.attention_backend = *backend;
    fo_.use_ray_pose = o.ray_pose;
    fo_.ref_view_strategy = o.ref_view;
  }
  const std::string& model_dir() const { return dir_; }

  InferenceResult predict(const std::vector<RgbImage>& images) override {
    const PreprocessedBatch batch = preprocess(images, pre_);
    if (!model_) model_ = std::make_unique<Model>(Model::load(dir_, mo_));
    return postprocess(model_->forward(batch.image, fo_), batch);
  }

 private:
  PreprocessOptions pre_;
  ModelOptions mo_;
  ForwardOptions fo_;
  std::string dir_;
  std::unique_ptr<Model> model_;
};

// Frames in stream order, with their timestamps (NaN when unknown). `skip`: the frame is only
// passed over (a resumed stream's frames that are already final), not returned.
using NextFrame = std::function<bool(RgbImage&, double&, bool skip)>;

std::string fmt_duration(double s) {
  char b[32];
  if (!std::isfinite(s) || s < 0) return "?";
  if (s >= 3600) std::snprintf(b, sizeof b, "%dh%02dm", int(s / 3600), int(std::fmod(s, 3600) / 60));
  else if (s >= 60) std::snprintf(b, sizeof b, "%dm%02ds", int(s / 60), int(std::fmod(s, 60)));
  else std::snprintf(b, sizeof b, "%.0fs", s);
  return b;
}

// Forwards to the outputs and shows progress: one updating line on a terminal, one line per
// window otherwise (unless -q).
class ProgressSink : public stream::StreamSink {
 public:
  ProgressSink(stream::StreamOutputs& out, int64_t total, int64_t already_final, bool quiet)
      : out_(out), total_(total), start_final_(already_final), tty_(!quiet && ::isatty(2)), quiet_(quiet) {}
  void on_frame(const stream::StreamFrame& f) override {
    out_.on_frame(f);
    final_ = f.index + 1;
  }
  void on_window(const stream::WindowReport& r, const std::vector<stream::StreamFrame>& anchor) override {
    out_.on_window(r, anchor);
    if (quiet_) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const double fps = double(final_ - start_final_) / std::max(elapsed, 1e-9);
    char line[256];
    std::string of = total_ > 0 ? "/" + std::to_string(total_) : "";
    std::string eta = total_ > 0 ? ", ETA " + fmt_duration(double(total_ - final_) / fps) : "";
    std::string seam;
    if (r.window > 0) {
      char b[96];
      std::snprintf(b, sizeof b, ", seam %.2g%% of depth, %.2g deg", 100 * r.seam.centre_error_rel, r.seam.rotation_error_deg);
      seam = b;
    }
    std::snprintf(line, sizeof line, "stream: %lld%s frames, window %lld, %.2f frames/s%s%s",
                  static_cast<long long>(final_), of.c_str(), static_cast<long long>(r.window + 1), fps, eta.c_str(),
                  seam.c_str());
    if (tty_) std::fprintf(stderr, "\r%s\033[K", line);
    else std::fprintf(stderr, "%s\n", line);
  }
  void end_line() const {
    if (tty_) std::fprintf(stderr, "\n");
  }

 private:
  stream::StreamOutputs& out_;
  int64_t total_, start_final_, final_ = 0;
  bool tty_, quiet_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

// What must not change between a stream and its resumption: inputs and every setting that
// changes the results.
std::string fingerprint(const std::string& input, const SceneArgs& s, const StreamArgs& a) {
  char b[512];
  std::snprintf(b, sizeof b, "window=%d overlap=%d voxel=%g process_res=%d method=%s ref_view=%s ray_pose=%d conf=%g model=%s",
                a.window, a.overlap, a.voxel, s.process_res, s.method.c_str(), s.ref_view.c_str(), int(s.ray_pose),
                double(s.conf_percentile), s.model.empty() ? "$DA3_MODEL" : s.model.c_str());
  return input + " " + b;
}

int run_stream(const std::string& input_id, int64_t total, const NextFrame& next, const SceneArgs& scene,
               const StreamArgs& args) {
  if (args.overlap >= args.window)
    throw Error("--overlap (" + std::to_string(args.overlap) + ") must be below --window (" + std::to_string(args.window) + ")");
  if (scene.gaussians)
    throw Error("--gaussians is not a stream output (each window's Gaussians would need aligning and merging); "
                "run the frames as scenes (da3 video without --stream, or --chunk N) for gs_ply / splat");
  stream::StreamOutputOptions oo;
  for (ExportFormat f : parse_export_formats(scene.formats)) {
    switch (f) {
      case ExportFormat::Npz: break;  // depth/NNNNNN.npz are always written
      case ExportFormat::Ply: oo.ply = true; break;
      case ExportFormat::Glb: oo.glb = true; break;
      case ExportFormat::Colmap: oo.colmap = true; break;
      default:
        throw Error(std::string("-f ") + export_format_name(f) +
                    " is not a stream output; with --stream -f takes ply, glb, colmap (depth/*.npz are always written)");
    }
  }
  oo.voxel_size = args.voxel;
  oo.conf_percentile = scene.conf_percentile;
  oo.max_points = scene.max_points;
  oo.window = args.window;
  oo.overlap = args.overlap;
  oo.fingerprint = fingerprint(input_id, scene, args);
  check_output_dir(scene.out);
  ModelPredictor predictor(scene);  // argument errors before any frame is read

  stream::StreamOptions so;
  so.window = args.window;
  so.overlap = args.overlap;
  std::unique_ptr<stream::StreamOutputs> out;
  stream::StreamResumePoint point;
  if (args.resume) {
    out = stream::StreamOutputs::resume(scene.out, oo, point);
    if (point.finished) {
      if (!scene.quiet) std::fprintf(stderr, "the stream in %s is already complete\n", scene.out.c_str());
      return 0;
    }
  } else {
    out = std::make_unique<stream::StreamOutputs>(scene.out, oo);
  }
  ProgressSink sink(*out, total, point.frames_final, scene.quiet);
  stream::StreamReconstructor recon(so, predictor, sink);
  int64_t skip = 0;
  if (args.resume) {
    skip = point.anchor.front().index;
    recon.resume(std::move(point.anchor), point.windows_done);
  }
  RgbImage frame;
  double ts = 0;
  int64_t read = 0;
  while (next(frame, ts, read < skip)) {
    if (read++ < skip) continue;  // final before the interruption
    recon.push(std::move(frame), ts);
    frame = RgbImage{};
  }
  if (read == 0) throw Error("no frame could be read from " + input_id);
  if (args.resume && read <= skip)
    throw Error("--resume: the input has " + std::to_string(read) + " frames, fewer than the " +
                std::to_string(skip) + " the stream had already used; is it the same input?");
  recon.finish();
  const auto written = out->finish();
  sink.end_line();
  if (!scene.quiet) {
    std::fprintf(stderr, "%lld frames in %lld windows written under %s (frames/, depth/, trajectory.json",
                 static_cast<long long>(recon.frames_final()), static_cast<long long>(recon.windows_done()),
                 scene.out.c_str());
    for (const auto& w : written)
      if (w.find("trajectory.json") == std::string::npos) std::fprintf(stderr, ", %s", std::filesystem::path(w).filename().c_str());
    std::fprintf(stderr, ")%s\n", out->fused_points() ? (", " + std::to_string(out->fused_points()) + " fused points").c_str() : "");
  }
  return 0;
}

}  // namespace

int run_video_stream(const std::string& file, double fps, const SceneArgs& scene, const StreamArgs& args) {
  auto sampler = std::make_shared<VideoFrameSampler>(file, fps);
  const VideoProperties& p = sampler->properties();
  int64_t total = -1;
  if (p.frame_count > 0 && p.fps > 0)
    total = fps >= p.fps ? p.frame_count : static_cast<int64_t>(std::ceil(double(p.frame_count) * fps / p.fps));
  const double video_fps = p.fps;
  int first_w = 0, first_h = 0;
  NextFrame next = [sampler, video_fps, &first_w, &first_h, &file](RgbImage& f, double& ts, bool) {
    if (!sampler->next(f)) return false;  // decoded even when skipped: sampling depends on every frame
    const int64_t i = sampler->frames_decoded() - 1;
    ts = video_fps > 0 ? double(i) / video_fps : std::nan("");
    if (first_w == 0) first_w = f.width, first_h = f.height;
    if (f.width != first_w || f.height != first_h)
      throw Error("video '" + file + "': frame " + std::to_string(i) + " is " + std::to_string(f.width) + "x" +
                  std::to_string(f.height) + ", earlier frames " + std::to_string(first_w) + "x" + std::to_string(first_h) +
                  "; a stream needs frames of one size");
    return true;
  };
  char id[64];
  std::snprintf(id, sizeof id, " fps=%g", fps);
  return run_stream("video=" + std::filesystem::absolute(file).string() + id, total, next, scene, args);
}

int run_image_stream(const std::vector<std::string>& inputs, const SceneArgs& scene, const StreamArgs& args) {
  const auto paths = std::make_shared<std::vector<std::string>>(stream::collect_image_sequence(inputs));
  auto pos = std::make_shared<size_t>(0);
  int first_w = 0, first_h = 0;
  const PreprocessOptions limits_only;
  NextFrame next = [paths, pos, &first_w, &first_h, limits_only](RgbImage& f, double& ts, bool skip) {
    if (*pos >= paths->size()) return false;
    const std::string& p = (*paths)[(*pos)++];
    if (skip) return true;
    f = load_image(p, limits_only.limits);
    ts = std::nan("");
    if (first_w == 0) first_w = f.width, first_h = f.height;
    if (f.width != first_w || f.height != first_h)
      throw Error("image '" + p + "' is " + std::to_string(f.width) + "x" + std::to_string(f.height) + ", the sequence's first is " +
                  std::to_string(first_w) + "x" + std::to_string(first_h) + "; a stream needs images of one size");
    return true;
  };
  // The identity of the sequence: its length and a hash of its paths (a long list would not fit a line).
  std::string joined;
  for (const auto& p : *paths) joined += std::filesystem::absolute(p).string() + "\n";
  char id[96];
  std::snprintf(id, sizeof id, "images=%zu hash=%016zx", paths->size(), std::hash<std::string>{}(joined));
  return run_stream(id, static_cast<int64_t>(paths->size()), next, scene, args);
}

}  // namespace da3::cli
