// Image files through OpenCV's imgcodecs, with exactly the calls libda3 made before the plugin
// existed, so decoded and encoded bytes are unchanged.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "media_plugin/opencv_media.hpp"

namespace da3::media_plugin {

void decode_rgb(const uint8_t* bytes, size_t size, int reduce, io::DecodeResult& out) noexcept {
  // EXIF orientation is ignored because the reference (PIL Image.open) ignores it.
  int flags = cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION;
  if (reduce == 2) flags = cv::IMREAD_REDUCED_COLOR_2 | cv::IMREAD_IGNORE_ORIENTATION;
  if (reduce == 4) flags = cv::IMREAD_REDUCED_COLOR_4 | cv::IMREAD_IGNORE_ORIENTATION;
  if (reduce == 8) flags = cv::IMREAD_REDUCED_COLOR_8 | cv::IMREAD_IGNORE_ORIENTATION;
  out = io::DecodeResult{};
  try {
    const cv::Mat buf(1, static_cast<int>(size), CV_8UC1, const_cast<uint8_t*>(bytes));
    const cv::Mat bgr = cv::imdecode(buf, flags);
    if (bgr.empty()) {
      out.status = io::DecodeResult::Status::Empty;
      return;
    }
    out.width = bgr.cols;
    out.height = bgr.rows;
    if (bgr.type() == CV_8UC3) {
      // Converted straight into the caller's buffer: no third copy of a large image.
      io::ImageBuffer rgb(bgr.cols, bgr.rows, 3);
      cv::Mat dst(rgb.height, rgb.width, CV_8UC3, rgb.pixels.data());
      cv::cvtColor(bgr, dst, cv::COLOR_BGR2RGB);
      if (dst.data != rgb.pixels.data()) dst.copyTo(cv::Mat(rgb.height, rgb.width, CV_8UC3, rgb.pixels.data()));
      out.rgb = std::move(rgb);
      out.three_channel_u8 = true;
    }
    out.status = io::DecodeResult::Status::Decoded;
  } catch (...) {
    out = io::DecodeResult{};
    out.status = io::DecodeResult::Status::Failed;
    out.error = current_exception_text();
  }
}

bool encode_png(const io::PlaneRef& src, std::vector<uint8_t>& png, std::string& error) noexcept {
  try {
    const cv::Mat m = as_mat(src);
    if (m.type() == CV_8UC3) {
      cv::Mat bgr;
      cv::cvtColor(m, bgr, cv::COLOR_RGB2BGR);
      return cv::imencode(".png", bgr, png);
    }
    if (m.type() == CV_16UC1) return cv::imencode(".png", m, png);
    error = "only 8-bit RGB and 16-bit grey images are encoded";
  } catch (...) {
    error = current_exception_text();
  }
  return false;
}

bool encode_jpeg(const io::PlaneRef& src, int quality, std::vector<uint8_t>& jpg, std::string& error) noexcept {
  try {
    const cv::Mat m = as_mat(src);
    if (m.type() != CV_8UC3) {
      error = "only 8-bit RGB images are encoded as JPEG";
      return false;
    }
    cv::Mat bgr;
    cv::cvtColor(m, bgr, cv::COLOR_RGB2BGR);
    return cv::imencode(".jpg", bgr, jpg, {cv::IMWRITE_JPEG_QUALITY, quality});
  } catch (...) {
    error = current_exception_text();
  }
  return false;
}

}  // namespace da3::media_plugin
