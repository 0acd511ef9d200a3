// See png_text.hpp. The chunk layout (length, type, data, CRC-32 of type + data) is the PNG
// specification's (section 5.3).
#include "server/png_text.hpp"

#include <cstring>

#include "da3/error.hpp"
#include "io/npz.hpp"  // io::crc32: zip's CRC-32 is PNG's

namespace da3::server {

namespace {

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

}  // namespace

std::vector<uint8_t> add_png_text(const std::vector<uint8_t>& png,
                                  const std::vector<std::pair<std::string, std::string>>& entries) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  // Signature (8) + IHDR: length 13, "IHDR", 13 bytes, CRC = 33 bytes.
  constexpr size_t kAfterIhdr = 8 + 4 + 4 + 13 + 4;
  DA3_CHECK(png.size() >= kAfterIhdr && std::memcmp(png.data(), sig, 8) == 0 &&
                std::memcmp(png.data() + 12, "IHDR", 4) == 0,
            "add_png_text: not a PNG starting with IHDR");
  std::vector<uint8_t> out(png.begin(), png.begin() + kAfterIhdr);
  for (const auto& [key, text] : entries) {
    DA3_CHECK(!key.empty() && key.size() <= 79, "add_png_text: keyword must be 1..79 characters");
    for (unsigned char c : key) DA3_CHECK(c >= 32 && c <= 126, "add_png_text: keyword must be printable");
    std::vector<uint8_t> chunk = {'t', 'E', 'X', 't'};
    chunk.insert(chunk.end(), key.begin(), key.end());
    chunk.push_back(0);
    chunk.insert(chunk.end(), text.begin(), text.end());
    put_u32(out, static_cast<uint32_t>(chunk.size() - 4));
    out.insert(out.end(), chunk.begin(), chunk.end());
    put_u32(out, io::crc32(chunk.data(), chunk.size()));
  }
  out.insert(out.end(), png.begin() + kAfterIhdr, png.end());
  return out;
}

}  // namespace da3::server
