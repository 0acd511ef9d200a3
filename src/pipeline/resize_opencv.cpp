#include "pipeline/resize_opencv.hpp"

#include "da3/error.hpp"
#include "io/media.hpp"

namespace da3::pipeline {

io::ImageBuffer resize_area(const io::ImageView& src, int width, int height) {
  io::ImageBuffer out(width, height, src.channels);
  const io::PlaneRef s{const_cast<uint8_t*>(src.data), src.width, src.height, src.channels, io::PixelType::U8,
                       src.row_bytes()};
  const io::PlaneRef d{out.pixels.data(), width, height, src.channels, io::PixelType::U8, out.row_bytes()};
  resize_into(s, d, io::Interpolation::Area);
  return out;
}

void resize_into(const io::PlaneRef& src, const io::PlaneRef& dst, io::Interpolation interp) {
  std::string error;
  if (!io::media().resize(src, dst, interp, error))
    throw Error("resizing " + std::to_string(src.width) + "x" + std::to_string(src.height) + " to " +
                std::to_string(dst.width) + "x" + std::to_string(dst.height) + " failed: " + error);
}

}  // namespace da3::pipeline
