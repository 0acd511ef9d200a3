// See image_sequence.hpp.
#include "pipeline/stream/image_sequence.hpp"

#include <algorithm>
#include <filesystem>

#include "da3/pipeline.hpp"

namespace da3::stream {

namespace {
bool is_digit(char c) { return c >= '0' && c <= '9'; }
}  // namespace

bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      size_t ie = i, je = j;
      while (ie < a.size() && is_digit(a[ie])) ++ie;
      while (je < b.size() && is_digit(b[je])) ++je;
      size_t is = i, js = j;  // skip leading zeros
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      const size_t la = ie - is, lb = je - js;
      if (la != lb) return la < lb;  // more significant digits: larger
      const int c = a.compare(is, la, b, js, lb);
      if (c != 0) return c < 0;
      if (ie - i != je - j) return ie - i < je - j;  // "7" before "007"
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  if ((a.size() - i) != (b.size() - j)) return a.size() - i < b.size() - j;
  return a < b;
}

std::vector<std::string> collect_image_sequence(const std::vector<std::string>& inputs) {
  std::vector<std::string> out;
  for (const std::string& in : inputs) {
    std::vector<std::string> found = collect_image_paths({in});
    std::error_code ec;
    const bool named_file = std::filesystem::is_regular_file(in, ec);
    if (!named_file) std::sort(found.begin(), found.end(), natural_less);
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

}  // namespace da3::stream
