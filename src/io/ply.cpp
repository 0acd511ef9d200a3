#include "io/ply.hpp"

#include <bit>
#include <cstring>

#include "da3/error.hpp"
#include "io/atomic_file.hpp"

namespace da3::io {

static_assert(std::endian::native == std::endian::little, "the PLY writer copies floats as little-endian bytes");

void write_ply_points(const std::string& path, const std::vector<float>& xyz, const std::vector<uint8_t>& rgb,
                      const std::vector<std::string>& comments) {
  const size_t n = xyz.size() / 3;
  DA3_CHECK(xyz.size() == n * 3 && rgb.size() == n * 3, "ply: need 3 floats and 3 colour bytes a point");
  std::string header = "ply\nformat binary_little_endian 1.0\n";
  for (const std::string& c : comments) {
    DA3_CHECK(c.find('\n') == std::string::npos, "ply: a comment may not contain a newline");
    header += "comment " + c + "\n";
  }
  header += "element vertex " + std::to_string(n) +
            "\nproperty float x\nproperty float y\nproperty float z\n"
            "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n";
  AtomicFile f(path);
  f.write(header.data(), header.size());
  // 15 bytes a vertex, packed; written in blocks so a large cloud needs no second full copy.
  constexpr size_t kBlock = 1 << 16;
  std::vector<uint8_t> buf;
  buf.reserve(kBlock * 15);
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t end = std::min(n, start + kBlock);
    buf.resize((end - start) * 15);
    for (size_t i = start; i < end; ++i) {
      uint8_t* p = buf.data() + (i - start) * 15;
      std::memcpy(p, &xyz[i * 3], 12);
      std::memcpy(p + 12, &rgb[i * 3], 3);
    }
    f.write(buf.data(), buf.size());
  }
  f.commit();
}

}  // namespace da3::io
