// See colmap_dataset.hpp.
#include "pipeline/colmap_dataset.hpp"

#include <algorithm>
#include <filesystem>

#include "da3/error.hpp"
#include "io/colmap.hpp"

namespace da3 {

namespace fs = std::filesystem;

namespace {

bool has_model(const fs::path& d) {
  std::error_code ec;
  return (fs::is_regular_file(d / "cameras.bin", ec) && fs::is_regular_file(d / "images.bin", ec)) ||
         (fs::is_regular_file(d / "cameras.txt", ec) && fs::is_regular_file(d / "images.txt", ec));
}

}  // namespace

bool is_colmap_dataset(const std::string& dir) {
  std::error_code ec;
  return fs::is_directory(fs::path(dir) / "images", ec) && fs::is_directory(fs::path(dir) / "sparse", ec);
}

ColmapDataset load_colmap_dataset(const std::string& dir, const std::string& sparse_subdir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error("COLMAP dataset '" + dir + "' is not a folder");
  const fs::path images = fs::path(dir) / "images";
  if (!fs::is_directory(images, ec))
    throw Error("COLMAP dataset '" + dir + "' has no images/ folder (expected DIR/images and DIR/sparse)");
  fs::path sparse = fs::path(dir) / "sparse";
  if (!sparse_subdir.empty()) sparse /= sparse_subdir;
  else if (!has_model(sparse) && has_model(sparse / "0")) sparse /= "0";
  if (!fs::is_directory(sparse, ec)) throw Error("COLMAP dataset '" + dir + "' has no folder '" + sparse.string() + "'");

  ColmapDataset d;
  d.sparse_dir = sparse.string();
  const std::vector<io::ColmapView> views = io::read_colmap_views(d.sparse_dir);
  std::vector<const io::ColmapView*> kept;
  for (const io::ColmapView& v : views) {
    const fs::path file = images / v.name;
    if (!fs::is_regular_file(file, ec)) {
      d.missing.push_back(v.name);
      continue;
    }
    kept.push_back(&v);
    d.image_paths.push_back(file.string());
    d.sizes.emplace_back(v.width, v.height);
    if (v.camera_model != "PINHOLE" && v.camera_model != "SIMPLE_PINHOLE" &&
        std::find(d.distorted.begin(), d.distorted.end(), v.camera_model) == d.distorted.end())
      d.distorted.push_back(v.camera_model);
  }
  if (kept.empty())
    throw Error("COLMAP dataset '" + dir + "': none of the " + std::to_string(views.size()) +
                " registered images is in " + images.string() + "/");
  const auto n = static_cast<int64_t>(kept.size());
  d.cameras.extrinsics = Tensor::zeros({n, 4, 4});
  d.cameras.intrinsics = Tensor::empty({n, 3, 3});
  for (int64_t i = 0; i < n; ++i) {
    const io::ColmapView& v = *kept[size_t(i)];
    float* e = d.cameras.extrinsics.data_as<float>() + 16 * i;
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) e[4 * r + c] = static_cast<float>(v.rotation[size_t(3 * r + c)]);
      e[4 * r + 3] = static_cast<float>(v.translation[size_t(r)]);
    }
    e[15] = 1.f;
    float* k = d.cameras.intrinsics.data_as<float>() + 9 * i;
    for (int j = 0; j < 9; ++j) k[j] = static_cast<float>(v.intrinsics[size_t(j)]);
  }
  return d;
}

}  // namespace da3
