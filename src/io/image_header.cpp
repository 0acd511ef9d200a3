#include "io/image_header.hpp"

#include <cstring>

namespace da3::io {

const char* image_format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::Jpeg: return "JPEG";
    case ImageFormat::Png: return "PNG";
    case ImageFormat::Bmp: return "BMP";
    case ImageFormat::Tiff: return "TIFF";
    case ImageFormat::WebP: return "WebP";
    default: return "unknown";
  }
}

namespace {

uint32_t be16(const uint8_t* p) { return (uint32_t(p[0]) << 8) | p[1]; }
uint32_t be32(const uint8_t* p) { return (be16(p) << 16) | be16(p + 2); }
uint32_t le16(const uint8_t* p) { return (uint32_t(p[1]) << 8) | p[0]; }
uint32_t le32(const uint8_t* p) { return (le16(p + 2) << 16) | le16(p); }

void read_png(const uint8_t* d, size_t n, ImageHeader& h) {
  // Signature (8), IHDR chunk length (4) and type (4), then width and height.
  if (n >= 24 && std::memcmp(d + 12, "IHDR", 4) == 0) {
    h.width = be32(d + 16);
    h.height = be32(d + 20);
  }
}

void read_jpeg(const uint8_t* d, size_t n, ImageHeader& h) {
  // Walk the marker segments up to the first scan (SOS); the frame header (SOFn) holds the size.
  size_t i = 2;
  while (i + 4 <= n) {
    if (d[i] != 0xFF) return;  // not a marker where one must be: malformed
    const uint8_t m = d[i + 1];
    if (m == 0xFF) { ++i; continue; }  // fill byte
    if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) { i += 2; continue; }  // no length
    const size_t len = be16(d + i + 2);
    if (len < 2) return;
    const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof && i + 10 <= n) {
      h.height = be16(d + i + 5);
      h.width = be16(d + i + 7);
      h.jpeg_components = d[i + 9];
      const int process = m & 0x0F;  // C0 + n; bit 3 (C8..CF) only selects arithmetic coding
      h.jpeg_progressive = (process & 3) == 2;
      h.jpeg_unsupported_process = (process & 3) == 3 || (process & 7) >= 5;
    }
    if (m == 0xDA) {
      // Ns: components in this scan. Fewer than the frame has: one scan per component
      // (non-interleaved), which libjpeg buffers whole like a progressive file.
      if (i + 5 <= n && h.jpeg_components > 0 && d[i + 4] < h.jpeg_components) h.jpeg_multiscan = true;
      // Entropy-coded data cannot contain FF D9 (an FF there is followed by 00 or a restart
      // marker), so an EOI after the first scan means the file was not cut short.
      for (size_t j = i + 2 + len; j + 1 < n; ++j)
        if (d[j] == 0xFF && d[j + 1] == 0xD9) { h.jpeg_complete = true; break; }
      return;
    }
    i += 2 + len;
  }
}

void read_bmp(const uint8_t* d, size_t n, ImageHeader& h) {
  if (n < 26) return;
  const uint32_t dib = le32(d + 14);
  if (dib == 12) {  // BITMAPCOREHEADER: 16-bit sizes
    h.width = le16(d + 18);
    h.height = le16(d + 20);
  } else if (dib >= 40) {
    const int32_t w = static_cast<int32_t>(le32(d + 18));
    const int32_t hh = static_cast<int32_t>(le32(d + 22));  // negative: rows stored top-down
    h.width = w < 0 ? 0 : w;
    h.height = hh < 0 ? -int64_t(hh) : hh;
  }
}

void read_tiff(const uint8_t* d, size_t n, ImageHeader& h) {
  const bool le = d[0] == 'I';
  auto u16 = [&](size_t o) { return le ? le16(d + o) : be16(d + o); };
  auto u32 = [&](size_t o) { return le ? le32(d + o) : be32(d + o); };
  const size_t ifd = u32(4);
  if (ifd + 2 > n) return;
  const size_t count = u16(ifd);
  for (size_t k = 0; k < count; ++k) {
    const size_t e = ifd + 2 + 12 * k;
    if (e + 12 > n) return;
    const uint32_t tag = u16(e), type = u16(e + 2);
    const uint32_t value = type == 3 ? u16(e + 8) : type == 4 ? u32(e + 8) : 0;  // SHORT / LONG
    if (tag == 256) h.width = value;
    if (tag == 257) h.height = value;
  }
}

void read_webp(const uint8_t* d, size_t n, ImageHeader& h) {
  if (n < 30) return;
  const uint8_t* c = d + 12;  // first chunk
  if (std::memcmp(c, "VP8 ", 4) == 0) {
    // Lossy: frame tag (3) and start code (3), then 14-bit width and height.
    h.width = le16(c + 14) & 0x3FFF;
    h.height = le16(c + 16) & 0x3FFF;
  } else if (std::memcmp(c, "VP8L", 4) == 0) {
    // Lossless: signature byte 0x2F, then 14 bits width-1 and 14 bits height-1.
    const uint32_t bits = le32(c + 9);
    h.width = (bits & 0x3FFF) + 1;
    h.height = ((bits >> 14) & 0x3FFF) + 1;
  } else if (std::memcmp(c, "VP8X", 4) == 0) {
    // Extended: 24-bit canvas width-1 and height-1.
    h.width = (uint32_t(c[12]) | uint32_t(c[13]) << 8 | uint32_t(c[14]) << 16) + 1;
    h.height = (uint32_t(c[15]) | uint32_t(c[16]) << 8 | uint32_t(c[17]) << 16) + 1;
  }
}

}  // namespace

ImageHeader read_image_header(const uint8_t* d, size_t n) {
  ImageHeader h;
  if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) {
    h.format = ImageFormat::Png;
    read_png(d, n, h);
  } else if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) {
    h.format = ImageFormat::Jpeg;
    read_jpeg(d, n, h);
  } else if (n >= 2 && d[0] == 'B' && d[1] == 'M') {
    h.format = ImageFormat::Bmp;
    read_bmp(d, n, h);
  } else if (n >= 8 && (std::memcmp(d, "II*\0", 4) == 0 || std::memcmp(d, "MM\0*", 4) == 0)) {
    h.format = ImageFormat::Tiff;
    read_tiff(d, n, h);
  } else if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0) {
    h.format = ImageFormat::WebP;
    read_webp(d, n, h);
  }
  return h;
}

}  // namespace da3::io
