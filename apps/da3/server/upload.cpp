// See upload.hpp.
#include "server/upload.hpp"

#include <httplib.h>

#include <cctype>
#include <fstream>
#include <set>

#include "da3/error.hpp"
#include "io/image_header.hpp"
#include "io/npz.hpp"
#include "server/api_error.hpp"
#include "server/task_options.hpp"

namespace da3::server {

namespace fs = std::filesystem;

UploadParts split_upload(const httplib::Request& req, size_t max_images) {
  if (!req.is_multipart_form_data())
    throw ApiError(415, "unsupported_media_type", "the body must be multipart/form-data with one 'images' part per view");
  UploadParts parts;
  // std::multimap keeps parts of one name in the order they came: the views' order.
  for (const auto& [raw_name, part] : req.files) {
    const std::string name = canonical_field_name(raw_name);
    if (name == "images") {
      parts.images.emplace_back(part.filename, &part.content);
    } else if (name == "poses") {
      if (parts.poses) throw ApiError(400, "bad_request", "more than one 'poses' part");
      parts.poses = &part.content;
    } else {
      if (!part.filename.empty())
        throw ApiError(400, "bad_request", "part '" + raw_name + "' is a file; only 'images' and 'poses' take files");
      if (!parts.fields.emplace(name, part.content).second)
        throw ApiError(400, "bad_request", "form field '" + name + "' given twice");
    }
  }
  if (parts.images.empty()) throw ApiError(400, "no_images", "no 'images' part: send one per view");
  if (parts.images.size() > max_images)
    throw ApiError(413, "too_many_images",
                   std::to_string(parts.images.size()) + " images; this server takes at most " +
                       std::to_string(max_images) + " per request (--max-images)");
  for (size_t i = 0; i < parts.images.size(); ++i) {
    const auto& [file, bytes] = parts.images[i];
    const auto h = io::read_image_header(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
    const std::string which = "image " + std::to_string(i) + (file.empty() ? "" : " ('" + file + "')");
    if (h.format == io::ImageFormat::Unknown)
      throw ApiError(415, "not_an_image", which + " is not a JPEG, PNG, BMP, TIFF or WebP file");
    if (h.width <= 0 || h.height <= 0) throw ApiError(400, "bad_image", which + " has a malformed header");
  }
  return parts;
}

std::string safe_file_name(const std::string& client_name, size_t index) {
  std::string base = client_name.substr(client_name.find_last_of("/\\") == std::string::npos
                                            ? 0
                                            : client_name.find_last_of("/\\") + 1);
  std::string out;
  for (unsigned char c : base) out += (std::isalnum(c) || c == '.' || c == '-' || c == '_') ? char(c) : '_';
  if (out.size() > 100) out = out.substr(out.size() - 100);  // the end keeps the extension
  // After the cut: cutting "x.p<98 more>" to its last 100 can leave a leading '.' (fuzz_upload).
  while (!out.empty() && out[0] == '.') out.erase(0, 1);  // no hidden files, no "..", no "."
  if (out.empty()) out = "image_" + std::to_string(index);
  return out;
}

namespace {

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) throw Error("cannot write " + path.string());
}

}  // namespace

void write_inputs(const UploadParts& parts, const fs::path& dir, TaskInput& input) {
  const fs::path in = dir / "inputs";
  fs::create_directories(in);
  std::set<std::string> used;
  for (size_t i = 0; i < parts.images.size(); ++i) {
    std::string name = safe_file_name(parts.images[i].first, i);
    if (!used.insert(name).second) {  // two uploads of one name: keep both, in order
      char prefix[16];
      std::snprintf(prefix, sizeof prefix, "%04zu_", i);
      name = prefix + name;
      used.insert(name);
    }
    write_bytes(in / name, *parts.images[i].second);
    input.image_paths.push_back((in / name).string());
  }
  if (parts.poses) {
    // Outside inputs/ (an image may be called poses.npz), and gone once read into memory.
    const fs::path p = dir / "poses.npz";
    write_bytes(p, *parts.poses);
    std::map<std::string, Tensor> z;
    try {
      z = io::read_npz(p.string());
      fs::remove(p);
    } catch (const da3::Error& e) {
      throw ApiError(400, "bad_poses", std::string("the 'poses' part is not a readable npz: ") + e.what());
    }
    if (!z.count("extrinsics") || !z.count("intrinsics"))
      throw ApiError(400, "bad_poses",
                     "the 'poses' npz must hold 'extrinsics' (N, 4, 4) or (N, 3, 4) world-to-camera and "
                     "'intrinsics' (N, 3, 3) in pixels of the input images");
    input.cameras.extrinsics = z.at("extrinsics");
    input.cameras.intrinsics = z.at("intrinsics");
  }
}

}  // namespace da3::server
