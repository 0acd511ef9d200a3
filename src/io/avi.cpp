// See avi.hpp. Layout: RIFF 'AVI ' { LIST 'hdrl' { avih, LIST 'strl' { strh, strf } },
// LIST 'movi' { '00db' frames }, idx1 } (the AVI 1.0 layout of Microsoft's AVI RIFF reference).
#include "io/avi.hpp"

#include <cmath>

#include "da3/error.hpp"
#include "io/image.hpp"

namespace da3::io {

namespace {

void u32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i)));
}
void u16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(uint8_t(v));
  b.push_back(uint8_t(v >> 8));
}
void tag(std::vector<uint8_t>& b, const char* t) { b.insert(b.end(), t, t + 4); }
void patch32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + size_t(i)] = uint8_t(v >> (8 * i));
}

}  // namespace

void write_avi_rgb(const std::string& path, const std::vector<const uint8_t*>& frames, int width, int height,
                   double fps) {
  DA3_CHECK(!frames.empty(), "AVI '" + path + "': no frames");
  DA3_CHECK(width > 0 && height > 0 && width <= 16384 && height <= 16384, "AVI '" + path + "': bad frame size");
  DA3_CHECK(std::isfinite(fps) && fps > 0 && fps <= 1000, "AVI '" + path + "': frame rate must be in (0, 1000]");
  const uint32_t row = (uint32_t(width) * 3 + 3) & ~3u;  // DIB rows are padded to 4 bytes
  const uint64_t frame_bytes = uint64_t(row) * uint32_t(height);
  if (frame_bytes * frames.size() > (uint64_t(1) << 30))
    throw Error("AVI '" + path + "': " + std::to_string(frames.size()) + " frames of " + std::to_string(width) + "x" +
                std::to_string(height) + " exceed 1 GiB uncompressed; use fewer frames (e.g. a lower --fps)");
  const auto n = uint32_t(frames.size());
  const auto scale = uint32_t(1000), rate = uint32_t(std::lround(fps * 1000));
  std::vector<uint8_t> b;
  b.reserve(size_t(frame_bytes * n + 4096 + 16 * n));
  tag(b, "RIFF");
  u32(b, 0);  // patched
  tag(b, "AVI ");
  tag(b, "LIST");
  u32(b, 4 + 8 + 56 + 8 + 4 + 8 + 56 + 8 + 40);
  tag(b, "hdrl");
  tag(b, "avih");
  u32(b, 56);
  u32(b, uint32_t(std::lround(1e6 / fps)));  // microseconds per frame
  u32(b, uint32_t(std::min<double>(frame_bytes * fps, 4e9)));
  u32(b, 0);
  u32(b, 0x10);  // AVIF_HASINDEX
  u32(b, n);
  u32(b, 0);
  u32(b, 1);  // streams
  u32(b, uint32_t(frame_bytes));
  u32(b, uint32_t(width));
  u32(b, uint32_t(height));
  for (int i = 0; i < 4; ++i) u32(b, 0);
  tag(b, "LIST");
  u32(b, 4 + 8 + 56 + 8 + 40);
  tag(b, "strl");
  tag(b, "strh");
  u32(b, 56);
  tag(b, "vids");
  tag(b, "DIB ");
  u32(b, 0);  // flags
  u16(b, 0);  // priority
  u16(b, 0);  // language
  u32(b, 0);  // initial frames
  u32(b, scale);
  u32(b, rate);  // rate / scale = frames per second
  u32(b, 0);     // start
  u32(b, n);     // length
  u32(b, uint32_t(frame_bytes));
  u32(b, 0xFFFFFFFFu);  // quality: default
  u32(b, 0);            // sample size: varies
  u16(b, 0);
  u16(b, 0);
  u16(b, uint16_t(width));
  u16(b, uint16_t(height));
  tag(b, "strf");
  u32(b, 40);  // BITMAPINFOHEADER
  u32(b, 40);
  u32(b, uint32_t(width));
  u32(b, uint32_t(height));  // positive: bottom-up rows
  u16(b, 1);
  u16(b, 24);
  u32(b, 0);  // BI_RGB
  u32(b, uint32_t(frame_bytes));
  for (int i = 0; i < 4; ++i) u32(b, 0);
  tag(b, "LIST");
  const size_t movi_size_at = b.size();
  u32(b, 0);  // patched
  const size_t movi_at = b.size();
  tag(b, "movi");
  std::vector<uint32_t> offsets;
  for (const uint8_t* f : frames) {
    offsets.push_back(uint32_t(b.size() - movi_at));
    tag(b, "00db");
    u32(b, uint32_t(frame_bytes));
    for (int y = height - 1; y >= 0; --y) {  // bottom-up, BGR
      const uint8_t* src = f + size_t(y) * size_t(width) * 3;
      for (int x = 0; x < width; ++x) {
        b.push_back(src[x * 3 + 2]);
        b.push_back(src[x * 3 + 1]);
        b.push_back(src[x * 3]);
      }
      b.insert(b.end(), row - uint32_t(width) * 3, 0);
    }
  }
  patch32(b, movi_size_at, uint32_t(b.size() - movi_at));
  tag(b, "idx1");
  u32(b, 16 * n);
  for (uint32_t i = 0; i < n; ++i) {
    tag(b, "00db");
    u32(b, 0x10);  // AVIIF_KEYFRAME
    u32(b, offsets[i]);
    u32(b, uint32_t(frame_bytes));
  }
  patch32(b, 4, uint32_t(b.size() - 8));
  write_file_atomic(path, b);
}

}  // namespace da3::io
