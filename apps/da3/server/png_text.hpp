#pragma once
// Adds tEXt chunks (keyword, Latin-1 text) to an encoded PNG, right after its IHDR chunk: how
// POST /v1/depth carries the depth scale inside the 16-bit PNG it returns.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace da3::server {

// Throws da3::Error if `png` does not start with a PNG signature and IHDR chunk, or a keyword
// is not 1..79 printable characters.
std::vector<uint8_t> add_png_text(const std::vector<uint8_t>& png,
                                  const std::vector<std::pair<std::string, std::string>>& entries);

}  // namespace da3::server
