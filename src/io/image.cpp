#include "io/image.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "da3/error.hpp"
#include "io/atomic_file.hpp"
#include "io/image_header.hpp"

namespace da3::io {

std::vector<uint8_t> read_file_bytes(const std::string& path, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw Error(std::string(what) + " '" + path + "' " +
                (errno == ENOENT ? "does not exist" : std::string("cannot be read: ") + std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) throw Error(std::string(what) + " '" + path + "' is a directory, not a file");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(std::string(what) + " '" + path + "' cannot be read: " + std::strerror(errno));
  if (st.st_size == 0) throw Error(std::string(what) + " '" + path + "' is empty (0 bytes)");
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (f.gcount() != static_cast<std::streamsize>(bytes.size()))
    throw Error(std::string(what) + " '" + path + "' could not be read completely");
  return bytes;
}

namespace {

std::string mpx(int64_t pixels) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f Mpx", double(pixels) / 1e6);
  return buf;
}

}  // namespace

DecodedImage decode_rgb(const std::vector<uint8_t>& bytes, const std::string& name, const ImageLimits& limits) {
  const std::string who = "image '" + name + "'";
  if (bytes.empty()) throw Error(who + " is empty (0 bytes)");
  const ImageHeader h = read_image_header(bytes.data(), bytes.size());
  if (h.format == ImageFormat::Unknown)
    throw Error(who + " is not an image da3 can read (not JPEG, PNG, BMP, TIFF or WebP by its first bytes)");
  const std::string fmt = image_format_name(h.format);
  if (h.width <= 0 || h.height <= 0)
    throw Error(who + " (" + fmt + ") is corrupt: its header gives no valid size");
  const std::string dims = std::to_string(h.width) + "x" + std::to_string(h.height);
  if (h.width < limits.min_side || h.height < limits.min_side)
    throw Error(who + " is " + dims + " pixels; da3 needs at least " + std::to_string(limits.min_side) +
                " pixels on each side (one " + std::to_string(limits.min_side) +
                "-pixel ViT patch: a smaller image has less than one patch of content)");
  if (h.format == ImageFormat::Jpeg && !h.jpeg_complete)
    throw Error(who + " (JPEG) is truncated or corrupt: no end-of-image marker after its image data");

  // Full decode when it fits the limit; a huge JPEG is decoded at 1/2, 1/4 or 1/8 by libjpeg's
  // DCT scaling, which never builds the full-size image. Other decoders always would.
  const int64_t pixels = h.width * h.height;
  int scale = 1;
  if (pixels > limits.max_decode_pixels) {
    if (h.format != ImageFormat::Jpeg)
      throw Error(who + " is " + dims + " pixels (" + mpx(pixels) + "), over the " + mpx(limits.max_decode_pixels) +
                  " limit for decoding at full size; only JPEGs are downscaled while decoding. "
                  "Downscale the image first");
    for (int s : {2, 4, 8}) {
      const int64_t w = (h.width + s - 1) / s, hh = (h.height + s - 1) / s;
      if (w * hh <= limits.max_decode_pixels) { scale = s; break; }
    }
    if (scale == 1)
      throw Error(who + " is " + dims + " pixels (" + mpx(pixels) + "), too large even at 1/8 scale for the " +
                  mpx(limits.max_decode_pixels) + " decoding limit");
  }
  // EXIF orientation is ignored because the reference (PIL Image.open) ignores it.
  int flags = cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION;
  if (scale == 2) flags = cv::IMREAD_REDUCED_COLOR_2 | cv::IMREAD_IGNORE_ORIENTATION;
  if (scale == 4) flags = cv::IMREAD_REDUCED_COLOR_4 | cv::IMREAD_IGNORE_ORIENTATION;
  if (scale == 8) flags = cv::IMREAD_REDUCED_COLOR_8 | cv::IMREAD_IGNORE_ORIENTATION;

  if (bytes.size() > size_t(INT32_MAX)) throw Error(who + " is larger than 2 GiB, more than OpenCV can decode from memory");
  cv::Mat bgr;
  try {
    const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<uint8_t*>(bytes.data()));
    bgr = cv::imdecode(buf, flags);
  } catch (const cv::Exception& e) {
    throw Error(who + " (" + fmt + ") could not be decoded: " + e.what());
  }
  if (bgr.empty()) throw Error(who + " (" + fmt + ") could not be decoded: the file is corrupt or truncated");
  const int64_t want_w = (h.width + scale - 1) / scale, want_h = (h.height + scale - 1) / scale;
  if (bgr.type() != CV_8UC3 || bgr.cols != want_w || bgr.rows != want_h)
    throw Error(who + " (" + fmt + ") decoded to " + std::to_string(bgr.cols) + "x" + std::to_string(bgr.rows) +
                " but its header says " + dims + ": the file is corrupt");

  DecodedImage out;
  cv::cvtColor(bgr, out.rgb, cv::COLOR_BGR2RGB);
  out.orig_width = static_cast<int>(h.width);
  out.orig_height = static_cast<int>(h.height);
  out.decoded_scale = scale;
  return out;
}

std::vector<uint8_t> encode_png_rgb8(const uint8_t* rgb, int width, int height) {
  const cv::Mat src(height, width, CV_8UC3, const_cast<uint8_t*>(rgb));
  cv::Mat bgr;
  cv::cvtColor(src, bgr, cv::COLOR_RGB2BGR);
  std::vector<uint8_t> out;
  if (!cv::imencode(".png", bgr, out)) throw Error("PNG encoding failed");
  return out;
}

std::vector<uint8_t> encode_png_gray16(const uint16_t* values, int width, int height) {
  const cv::Mat src(height, width, CV_16UC1, const_cast<uint16_t*>(values));
  std::vector<uint8_t> out;
  if (!cv::imencode(".png", src, out)) throw Error("16-bit PNG encoding failed");
  return out;
}

void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes) {
  AtomicFile f(path);
  f.write(bytes.data(), bytes.size());
  f.commit();
}

void write_file_atomic(const std::string& path, const std::string& text) {
  AtomicFile f(path);
  f.write(text.data(), text.size());
  f.commit();
}

}  // namespace da3::io

namespace da3 {

RgbImage load_image(const std::string& path, const ImageLimits& limits, int* decoded_scale) {
  const io::DecodedImage d = io::decode_rgb(io::read_file_bytes(path, "image"), path, limits);
  RgbImage img;
  img.width = d.rgb.cols;
  img.height = d.rgb.rows;
  img.name = path;
  img.rgb.assign(d.rgb.data, d.rgb.data + d.rgb.total() * 3);
  if (decoded_scale) *decoded_scale = d.decoded_scale;
  return img;
}

}  // namespace da3
