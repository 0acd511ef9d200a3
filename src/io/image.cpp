#include "io/image.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "da3/error.hpp"
#include "io/atomic_file.hpp"
#include "io/image_header.hpp"
#include "io/media.hpp"

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

  const int64_t pixels = h.width * h.height;
  if (h.format == ImageFormat::Jpeg && h.jpeg_unsupported_process)
    throw Error(who + " is a lossless or hierarchical JPEG, which libjpeg cannot decode; convert it to a baseline JPEG or PNG");
  // libjpeg decodes a progressive or multi-scan JPEG by buffering every DCT coefficient of the
  // whole image (2 bytes x components x pixels) before the first output row, at any scale:
  // bounded by the declared size, before the decoder allocates it.
  if (h.format == ImageFormat::Jpeg && (h.jpeg_progressive || h.jpeg_multiscan) &&
      pixels > limits.max_multiscan_jpeg_pixels) {
    const double gb = 2.0 * double(std::max(1, h.jpeg_components)) * double(pixels) / 1e9;
    char need[32];
    std::snprintf(need, sizeof need, "%.1f GB", gb);
    throw Error(who + " is a " + (h.jpeg_progressive ? "progressive" : "multi-scan") + " JPEG of " + dims + " pixels (" +
                mpx(pixels) + "): libjpeg would hold all its DCT coefficients in memory (about " + need +
                "), even when downscaling; da3 decodes such JPEGs up to " + mpx(limits.max_multiscan_jpeg_pixels) +
                ". Re-encode it as a baseline JPEG or downscale it first");
  }
  // Full decode when it fits the limit; a huge JPEG is decoded at 1/2, 1/4 or 1/8 by libjpeg's
  // DCT scaling, which never builds the full-size image. Other decoders always would.
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
  if (bytes.size() > size_t(INT32_MAX)) throw Error(who + " is larger than 2 GiB, more than OpenCV can decode from memory");
  DecodeResult r;
  media().decode_rgb(bytes.data(), bytes.size(), scale, r);
  if (r.status == DecodeResult::Status::Failed) throw Error(who + " (" + fmt + ") could not be decoded: " + r.error);
  if (r.status == DecodeResult::Status::Empty)
    throw Error(who + " (" + fmt + ") could not be decoded: the file is corrupt or truncated");
  const int64_t want_w = (h.width + scale - 1) / scale, want_h = (h.height + scale - 1) / scale;
  if (!r.three_channel_u8 || r.width != want_w || r.height != want_h)
    throw Error(who + " (" + fmt + ") decoded to " + std::to_string(r.width) + "x" + std::to_string(r.height) +
                " but its header says " + dims + ": the file is corrupt");

  DecodedImage out;
  out.rgb = std::move(r.rgb);
  out.orig_width = static_cast<int>(h.width);
  out.orig_height = static_cast<int>(h.height);
  out.decoded_scale = scale;
  return out;
}

namespace {

std::vector<uint8_t> encode_png(const PlaneRef& src, const char* what) {
  std::vector<uint8_t> out;
  std::string error;
  if (!media().encode_png(src, out, error)) throw Error(std::string(what) + (error.empty() ? "" : ": " + error));
  return out;
}

}  // namespace

std::vector<uint8_t> encode_png_rgb8(const uint8_t* rgb, int width, int height) {
  const PlaneRef src{const_cast<uint8_t*>(rgb), width, height, 3, PixelType::U8, size_t(width) * 3};
  return encode_png(src, "PNG encoding failed");
}

std::vector<uint8_t> encode_png_gray16(const uint16_t* values, int width, int height) {
  const PlaneRef src{const_cast<uint16_t*>(values), width, height, 1, PixelType::U16, size_t(width) * 2};
  return encode_png(src, "16-bit PNG encoding failed");
}

std::vector<uint8_t> encode_jpeg_rgb8(const uint8_t* rgb, int width, int height, int quality) {
  const PlaneRef src{const_cast<uint8_t*>(rgb), width, height, 3, PixelType::U8, size_t(width) * 3};
  std::vector<uint8_t> out;
  std::string error;
  if (!media().encode_jpeg(src, quality, out, error))
    throw Error("JPEG encoding failed" + (error.empty() ? std::string() : ": " + error));
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
  io::DecodedImage d = io::decode_rgb(io::read_file_bytes(path, "image"), path, limits);
  RgbImage img;
  img.width = d.rgb.width;
  img.height = d.rgb.height;
  img.name = path;
  img.rgb = std::move(d.rgb.pixels);
  if (decoded_scale) *decoded_scale = d.decoded_scale;
  return img;
}

}  // namespace da3
