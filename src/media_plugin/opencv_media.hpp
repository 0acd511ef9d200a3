#pragma once
// The OpenCV side of the media plugin, one file per kind of work; entry.cpp binds them to the
// MediaPlugin interface. Each function catches everything it can raise (see media_plugin.hpp).
#include <opencv2/core.hpp>

#include "io/media_plugin.hpp"

namespace da3::media_plugin {

// A header over the plane's memory, no copy.
cv::Mat as_mat(const io::PlaneRef& p);

void decode_rgb(const uint8_t* bytes, size_t size, int reduce, io::DecodeResult& out) noexcept;
bool encode_png(const io::PlaneRef& src, std::vector<uint8_t>& png, std::string& error) noexcept;
bool encode_jpeg(const io::PlaneRef& src, int quality, std::vector<uint8_t>& jpg, std::string& error) noexcept;
bool resize(const io::PlaneRef& src, const io::PlaneRef& dst, io::Interpolation interp, std::string& error) noexcept;
std::unique_ptr<io::VideoReader> open_video(const std::string& path, std::string& error) noexcept;

// The message of the exception being handled; for catch (...) blocks.
std::string current_exception_text();

}  // namespace da3::media_plugin
