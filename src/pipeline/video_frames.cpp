// See video_frames.hpp.
#include "pipeline/video_frames.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "da3/error.hpp"
#include "da3/log.hpp"
#include "io/image.hpp"
#include "io/image_header.hpp"
#include "io/media.hpp"

namespace da3 {

struct VideoFrameSampler::Impl {
  std::unique_ptr<io::VideoReader> reader;  // OpenCV videoio, in the media plugin
};

namespace {

// The checks OpenCV would otherwise collapse into one silent "could not open".
void check_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (!fs::exists(st)) throw Error("video '" + path + "' does not exist");
  if (fs::is_directory(st)) throw Error("video '" + path + "' is a directory");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("video '" + path + "' cannot be read: " + std::strerror(errno));
  std::vector<uint8_t> head(64 * 1024);
  f.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(f.gcount()));
  if (head.empty()) throw Error("video '" + path + "' is empty (0 bytes)");
  // FFmpeg opens a still image as a one-frame video; a user who passes one most likely meant
  // `da3 infer`, which also reads it exactly as the reference does.
  const io::ImageHeader h = io::read_image_header(head.data(), head.size());
  if (h.format != io::ImageFormat::Unknown)
    throw Error("'" + path + "' is a " + io::image_format_name(h.format) + " image, not a video; use `da3 infer`");
}

}  // namespace

VideoFrameSampler::VideoFrameSampler(const std::string& path, double sample_fps)
    : impl_(std::make_unique<Impl>()), path_(path), sample_fps_(sample_fps) {
  if (!std::isfinite(sample_fps) || sample_fps <= 0)
  {
    char got[32];
    std::snprintf(got, sizeof got, "%g", sample_fps);
    throw Error(std::string("--fps must be a positive number of frames per second of video time, got ") + got);
  }
  check_file(path);
  std::string error;
  impl_->reader = io::media().open_video(path, error);
  if (!impl_->reader)
    throw Error("'" + path + "' is not a video da3 can read (FFmpeg through OpenCV could not open it" +
                (error.empty() ? "" : ": " + error) + ")");
  const io::VideoStreamInfo info = impl_->reader->info();
  props_.fps = info.fps;
  if (!std::isfinite(props_.fps) || props_.fps <= 0) props_.fps = 0;
  props_.frame_count = static_cast<int64_t>(std::max(0.0, info.frame_count));
  props_.width = static_cast<int>(info.width);
  props_.height = static_cast<int>(info.height);
  stem_ = std::filesystem::path(path).stem().string();
  log_info("video " + path + ": " + std::to_string(props_.width) + "x" + std::to_string(props_.height) + ", " +
           std::to_string(props_.fps) + " fps, about " + std::to_string(props_.frame_count) + " frames");
}

VideoFrameSampler::~VideoFrameSampler() = default;

bool VideoFrameSampler::next(RgbImage& frame) {
  for (;;) {
    // grab() demuxes without converting; only the frames kept are retrieved and converted.
    if (!impl_->reader->grab()) return false;
    const int64_t i = index_++;
    // Frame time: from the frame index where the container declares a rate (exact and
    // independent of timestamp quirks), else from the decoder's position.
    const double t = props_.fps > 0 ? double(i) / props_.fps : impl_->reader->position_ms() / 1000.0;
    // 1e-9: a frame exactly on an interval boundary (t * fps integral) opens that interval.
    const auto bucket = static_cast<int64_t>(std::floor(t * sample_fps_ + 1e-9));
    if (bucket <= last_bucket_) continue;
    using Status = io::VideoFrameResult::Status;
    const io::VideoFrameResult got = impl_->reader->retrieve_rgb(frame.rgb, frame.width, frame.height);
    if (got.status == Status::NotDecoded)
      throw Error("video '" + path_ + "': frame " + std::to_string(i) + " could not be decoded");
    if (got.status == Status::Failed)
      throw Error("video '" + path_ + "': frame " + std::to_string(i) + " could not be decoded: " + got.error);
    last_bucket_ = bucket;
    if (got.status == Status::NotU8) throw Error("video '" + path_ + "': frames are not 8-bit");
    char idx[32];
    std::snprintf(idx, sizeof idx, "_frame%06lld", static_cast<long long>(i));
    frame.name = stem_ + idx;
    return true;
  }
}

std::vector<std::string> write_input_images(std::vector<RgbImage>& frames, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("cannot create '" + dir + "': " + ec.message());
  std::vector<std::string> written;
  for (RgbImage& f : frames) {
    const std::string file = f.name + ".png";
    const std::string path = (std::filesystem::path(dir) / file).string();
    io::write_file_atomic(path, io::encode_png_rgb8(f.rgb.data(), f.width, f.height));
    f.name = file;
    written.push_back(path);
  }
  return written;
}

}  // namespace da3
