// libda3_media.so's entry points: libda3 (src/io/media_loader.cpp) checks the ABI version, then
// takes the one MediaPlugin object.
#include <exception>

#include "media_plugin/opencv_media.hpp"

namespace da3::media_plugin {

namespace {

class OpenCvMedia final : public io::MediaPlugin {
 public:
  void decode_rgb(const uint8_t* bytes, size_t size, int reduce, io::DecodeResult& out) noexcept override {
    media_plugin::decode_rgb(bytes, size, reduce, out);
  }
  bool encode_png(const io::PlaneRef& src, std::vector<uint8_t>& png, std::string& error) noexcept override {
    return media_plugin::encode_png(src, png, error);
  }
  bool resize(const io::PlaneRef& src, const io::PlaneRef& dst, io::Interpolation interp,
              std::string& error) noexcept override {
    return media_plugin::resize(src, dst, interp, error);
  }
  std::unique_ptr<io::VideoReader> open_video(const std::string& path, std::string& error) noexcept override {
    return media_plugin::open_video(path, error);
  }
  bool encode_jpeg(const io::PlaneRef& src, int quality, std::vector<uint8_t>& jpg, std::string& error) noexcept override {
    return media_plugin::encode_jpeg(src, quality, jpg, error);
  }
};

}  // namespace

std::string current_exception_text() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace da3::media_plugin

extern "C" {

__attribute__((visibility("default"))) int da3_media_abi_version() { return da3::io::kMediaPluginAbiVersion; }

__attribute__((visibility("default"))) da3::io::MediaPlugin* da3_media_plugin() {
  static da3::media_plugin::OpenCvMedia plugin;
  return &plugin;
}

}
