// Video frames through OpenCV's videoio, FFmpeg backend only.
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "media_plugin/opencv_media.hpp"

namespace da3::media_plugin {

namespace {

class CvVideoReader final : public io::VideoReader {
 public:
  cv::VideoCapture cap;

  io::VideoStreamInfo info() noexcept override {
    io::VideoStreamInfo i;
    try {
      i.fps = cap.get(cv::CAP_PROP_FPS);
      i.frame_count = cap.get(cv::CAP_PROP_FRAME_COUNT);
      i.width = cap.get(cv::CAP_PROP_FRAME_WIDTH);
      i.height = cap.get(cv::CAP_PROP_FRAME_HEIGHT);
    } catch (...) {
    }
    return i;
  }

  bool grab() noexcept override {
    try {
      return cap.grab();
    } catch (...) {
      return false;
    }
  }

  double position_ms() noexcept override {
    try {
      return cap.get(cv::CAP_PROP_POS_MSEC);
    } catch (...) {
      return 0;
    }
  }

  io::VideoFrameResult retrieve_rgb(std::vector<uint8_t>& rgb, int& width, int& height) noexcept override {
    io::VideoFrameResult r;
    try {
      cv::Mat bgr;
      if (!cap.retrieve(bgr) || bgr.empty()) {
        r.status = io::VideoFrameResult::Status::NotDecoded;
        return r;
      }
      if (bgr.depth() != CV_8U) {
        r.status = io::VideoFrameResult::Status::NotU8;
        return r;
      }
      width = bgr.cols;
      height = bgr.rows;
      rgb.resize(size_t(width) * height * 3);
      cv::Mat dst(height, width, CV_8UC3, rgb.data());
      cv::cvtColor(bgr, dst, bgr.channels() == 1 ? cv::COLOR_GRAY2RGB : cv::COLOR_BGR2RGB);
      if (dst.data != rgb.data()) dst.copyTo(cv::Mat(height, width, CV_8UC3, rgb.data()));
      r.status = io::VideoFrameResult::Status::Frame;
    } catch (...) {
      r.status = io::VideoFrameResult::Status::Failed;
      r.error = current_exception_text();
    }
    return r;
  }
};

}  // namespace

std::unique_ptr<io::VideoReader> open_video(const std::string& path, std::string& error) noexcept {
  try {
    auto r = std::make_unique<CvVideoReader>();
    // FFmpeg explicitly: with CAP_ANY, OpenCV's image-sequence backend would take printf-style
    // patterns and stills, and its messages go to stderr rather than into an error we can report.
    if (r->cap.open(path, cv::CAP_FFMPEG)) return r;
  } catch (...) {
    error = current_exception_text();
  }
  return nullptr;
}

}  // namespace da3::media_plugin
