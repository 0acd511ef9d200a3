// collect_image_paths: what `da3 infer INPUT...` accepts as INPUT.
#include <glob.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"

namespace da3 {

namespace {

namespace fs = std::filesystem;

// The extensions looked for in directories; a file named explicitly is judged by its content.
bool has_image_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* e : {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
    if (ext == e) return true;
  return false;
}

bool is_glob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

std::vector<std::string> images_in_directory(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && has_image_extension(entry.path())) out.push_back(entry.path().string());
  }
  if (ec) throw Error("cannot list directory '" + dir + "': " + ec.message());
  if (out.empty())
    throw Error("directory '" + dir + "' contains no images (looked for .jpg, .jpeg, .png, .bmp, .tif, .tiff, .webp)");
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::string> collect_image_paths(const std::vector<std::string>& inputs) {
  std::vector<std::string> out;
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      const auto found = images_in_directory(in);
      out.insert(out.end(), found.begin(), found.end());
    } else if (fs::exists(in, ec)) {
      out.push_back(in);  // a file named explicitly is taken whatever its extension
    } else if (is_glob(in)) {
      glob_t g{};
      const int rc = ::glob(in.c_str(), 0, nullptr, &g);
      std::vector<std::string> found;
      for (size_t i = 0; rc == 0 && i < g.gl_pathc; ++i) {
        if (fs::is_regular_file(g.gl_pathv[i], ec)) found.emplace_back(g.gl_pathv[i]);
      }
      ::globfree(&g);
      if (found.empty()) throw Error("no file matches '" + in + "'");
      out.insert(out.end(), found.begin(), found.end());  // glob() sorts its matches
    } else {
      throw Error("input '" + in + "' does not exist");
    }
  }
  if (out.empty()) throw Error("no input images given");
  return out;
}

}  // namespace da3
