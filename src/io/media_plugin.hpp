#pragma once
// The boundary between libda3 and libda3_media.so, the plugin that holds every OpenCV call
// (image decoding and encoding, OpenCV's resizes, video frames). Linking OpenCV's imgcodecs and
// videoio loads ~240 shared libraries (GDAL, FFmpeg, GStreamer, ...) and ~60 MB of resident
// memory into every process; behind a plugin only the processes that touch pixels pay for it.
//
// Both sides are built from this header by the same compiler in the same build, so the
// interface is a C++ abstract class with standard-library types; kAbiVersion guards against a
// stale plugin from another build. No method lets an exception out: failures come back as text,
// and libda3 turns them into da3::Error.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/image_buffer.hpp"

namespace da3::io {

// Bump whenever anything in this header changes.
constexpr int kMediaPluginAbiVersion = 2;

enum class PixelType { U8, U16, F32 };

// A strided plane of `channels` interleaved values per pixel: a whole image, or a rectangle
// inside a larger one.
struct PlaneRef {
  void* data = nullptr;
  int width = 0, height = 0, channels = 1;
  PixelType type = PixelType::U8;
  size_t row_bytes = 0;
};

enum class Interpolation { Area, Linear, Nearest };  // cv::INTER_AREA, INTER_LINEAR, INTER_NEAREST

struct DecodeResult {
  enum class Status { Decoded, Empty, Failed };
  Status status = Status::Failed;
  std::string error;                   // Failed: the decoder's message
  int width = 0, height = 0;           // what the decoder produced (Decoded)
  bool three_channel_u8 = false;       // it produced 8-bit 3-channel pixels; only then is rgb set
  ImageBuffer rgb;                     // RGB order
};

struct VideoFrameResult {
  enum class Status { Frame, NotDecoded, NotU8, Failed };
  Status status = Status::Failed;
  std::string error;  // Failed: OpenCV's message
};

// The container's own figures, unchecked (OpenCV's CAP_PROP_* values).
struct VideoStreamInfo {
  double fps = 0, frame_count = 0, width = 0, height = 0;
};

class VideoReader {
 public:
  virtual ~VideoReader() = default;
  virtual VideoStreamInfo info() noexcept = 0;
  // Demuxes the next frame without converting it; false at the end of the video.
  virtual bool grab() noexcept = 0;
  virtual double position_ms() noexcept = 0;
  // Converts the last grabbed frame to RGB (grey frames are expanded): `rgb` gets
  // width * height * 3 bytes.
  virtual VideoFrameResult retrieve_rgb(std::vector<uint8_t>& rgb, int& width, int& height) noexcept = 0;
};

class MediaPlugin {
 public:
  // `reduce`: 1, or 2, 4, 8 to decode a JPEG at that fraction of its size (libjpeg DCT scaling).
  // EXIF orientation is ignored.
  virtual void decode_rgb(const uint8_t* bytes, size_t size, int reduce, DecodeResult& out) noexcept = 0;
  // PNG: U8 with 3 channels (RGB order) or U16 with 1. False with `error` set on failure
  // (empty `error`: the encoder only said no).
  virtual bool encode_png(const PlaneRef& src, std::vector<uint8_t>& png, std::string& error) noexcept = 0;
  // cv::resize from `src` into exactly `dst`'s size, writing into dst's memory (never
  // reallocating it); both of one type and channel count.
  virtual bool resize(const PlaneRef& src, const PlaneRef& dst, Interpolation interp, std::string& error) noexcept = 0;
  // nullptr when the file cannot be opened (FFmpeg backend only); `error` set when OpenCV said why.
  virtual std::unique_ptr<VideoReader> open_video(const std::string& path, std::string& error) noexcept = 0;
  // Baseline JPEG of U8 RGB at `quality` (1-100); as encode_png otherwise.
  virtual bool encode_jpeg(const PlaneRef& src, int quality, std::vector<uint8_t>& jpg, std::string& error) noexcept = 0;

 protected:
  ~MediaPlugin() = default;  // the plugin owns its one instance; libda3 never deletes it
};

}  // namespace da3::io

// The plugin's entry points, looked up with dlsym. The version is checked before the plugin
// object is asked for, so a plugin built from another version of this header is never called.
extern "C" {
using Da3MediaAbiVersionFn = int();
using Da3MediaPluginFn = da3::io::MediaPlugin*();
}
#define DA3_MEDIA_ABI_VERSION_SYMBOL "da3_media_abi_version"
#define DA3_MEDIA_PLUGIN_SYMBOL "da3_media_plugin"
