#pragma once
// Image format and size from the first bytes of a file, without decoding: lets the loader
// refuse or downscale a huge image before a decoder allocates its pixel buffer (a
// 20000x20000 PNG header in a 100-byte file would otherwise cost 1.2 GB).
#include <cstddef>
#include <cstdint>
#include <string>

namespace da3::io {

enum class ImageFormat { Unknown, Jpeg, Png, Bmp, Tiff, WebP };
const char* image_format_name(ImageFormat f);

struct ImageHeader {
  ImageFormat format = ImageFormat::Unknown;
  int64_t width = 0, height = 0;  // 0 when the header is incomplete or malformed
  // JPEG only: whether an EOI marker follows the first scan. A truncated JPEG lacks it, and
  // libjpeg (through OpenCV) would decode it without an error, filling the rest with grey.
  bool jpeg_complete = false;
  // JPEG only: the frame's coding process, from its SOFn marker. Progressive (SOF2/6/10/14) and
  // multi-scan sequential files (a first scan with fewer components than the frame) make
  // libjpeg buffer the whole image's coefficients; lossless and hierarchical (SOF3/5/7/11/13/15)
  // are not decoded by libjpeg at all.
  bool jpeg_progressive = false;
  bool jpeg_multiscan = false;
  bool jpeg_unsupported_process = false;
  int jpeg_components = 0;
};

// Reads what it can from `data`; never throws. format Unknown: not one of the formats above.
ImageHeader read_image_header(const uint8_t* data, size_t size);

}  // namespace da3::io
