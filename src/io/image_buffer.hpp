#pragma once
// The pixel containers the pipeline passes around: interleaved 8-bit images, rows packed.
// Header-only because the media plugin (src/media_plugin/) shares them without linking libda3.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace da3::io {

// Non-owning: lets callers hand out pixels they already hold (an RgbImage, a tensor) without
// copying them first.
struct ImageView {
  const uint8_t* data = nullptr;
  int width = 0, height = 0, channels = 0;

  size_t row_bytes() const { return size_t(width) * channels; }
  const uint8_t* row(int y) const { return data + size_t(y) * row_bytes(); }
};

struct ImageBuffer {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height rows of width * channels bytes

  ImageBuffer() = default;
  ImageBuffer(int w, int h, int c) : width(w), height(h), channels(c), pixels(size_t(w) * h * c) {}

  bool empty() const { return pixels.empty(); }
  size_t row_bytes() const { return size_t(width) * channels; }
  uint8_t* row(int y) { return pixels.data() + size_t(y) * row_bytes(); }
  ImageView view() const { return {pixels.data(), width, height, channels}; }
};

// A copy of the w x h rectangle at (x, y); the caller keeps it inside `src`.
inline ImageBuffer crop(const ImageView& src, int x, int y, int w, int h) {
  ImageBuffer out(w, h, src.channels);
  const size_t bytes = out.row_bytes();
  for (int r = 0; r < h; ++r) std::memcpy(out.row(r), src.row(y + r) + size_t(x) * src.channels, bytes);
  return out;
}

}  // namespace da3::io
