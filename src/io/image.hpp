#pragma once
// Image files in and out, with the checks the pipeline promises: header read and size limits
// enforced before decoding, clear messages for every bad file. The codecs are OpenCV's
// imgcodecs, reached through the media plugin (io/media.hpp) on first use.
#include <cstdint>
#include <string>
#include <vector>

#include "da3/pipeline.hpp"
#include "io/image_buffer.hpp"

namespace da3::io {

// The whole file, or da3::Error naming the path and what is wrong (missing, a directory,
// unreadable, empty).
std::vector<uint8_t> read_file_bytes(const std::string& path, const char* what = "file");

struct DecodedImage {
  ImageBuffer rgb;  // 3 channels, RGB order
  int orig_width = 0, orig_height = 0;  // from the header, before any reduction
  int decoded_scale = 1;                // 1, or 2/4/8 for a huge JPEG decoded reduced
};

// Decodes `bytes` (the contents of `name`) as the reference's PIL .convert("RGB") would see it.
DecodedImage decode_rgb(const std::vector<uint8_t>& bytes, const std::string& name, const ImageLimits& limits);

// PNG in memory (OpenCV's encoder, through the media plugin): 8-bit RGB from RGB bytes, or 16-bit grey.
std::vector<uint8_t> encode_png_rgb8(const uint8_t* rgb, int width, int height);
std::vector<uint8_t> encode_png_gray16(const uint16_t* values, int width, int height);
// Baseline JPEG (quality 1-100) from 8-bit RGB bytes.
std::vector<uint8_t> encode_jpeg_rgb8(const uint8_t* rgb, int width, int height, int quality = 95);

// Writes `bytes` to `path` atomically.
void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes);
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace da3::io
