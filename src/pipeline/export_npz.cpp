// npz and mini_npz: the reference's export/npz.py keys, dtypes and rounding.
#include <cmath>
#include <cstring>
#include <filesystem>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"
#include "io/npz.hpp"

namespace da3 {

namespace {

// np.round(a, decimals) on a float32 array: a * 10**d, rint (halves to even), / 10**d, every
// step in float32 (numpy casts the Python float scale to the array's dtype).
Tensor np_round(const Tensor& a, int decimals) {
  const float scale = static_cast<float>(std::pow(10.0, decimals));
  Tensor out = Tensor::empty(a.shape());
  const float* src = a.data_as<float>();
  float* dst = out.data_as<float>();
  for (int64_t i = 0; i < a.numel(); ++i) {
    const float scaled = src[i] * scale;
    dst[i] = std::nearbyint(scaled) / scale;
  }
  return out;
}

void write(const InferenceResult& r, const std::string& path, bool mini, const ExportOptions& o = {}) {
  DA3_CHECK(r.depth.defined(), "npz export: the result has no depth");
  io::NpzWriter npz(path);
  if (!mini) {
    DA3_CHECK(r.processed_images.defined(), "npz export: the result has no processed images");
    npz.add("image", r.processed_images);
  }
  npz.add("depth", np_round(r.depth, mini ? 8 : 6));
  if (r.conf.defined()) npz.add("conf", np_round(r.conf, 2));
  if (r.extrinsics.defined()) npz.add("extrinsics", r.extrinsics);
  if (r.intrinsics.defined()) npz.add("intrinsics", r.intrinsics);
  if (!mini && !r.views.empty()) {
    // Which file each view came from (base names, as COLMAP names them): the npz is
    // self-describing without the command line that made it.
    std::vector<std::string> names;
    for (const ViewInfo& v : r.views) names.push_back(std::filesystem::path(v.source).filename().string());
    npz.add_strings("source_names", names);
    // `intrinsics` are in pixels of the processed views, as the reference stores them; these
    // are the same cameras in pixels of the source images, with the sizes, which is what
    // `--poses` takes: a results.npz fed back as --poses round-trips.
    const auto n = static_cast<int64_t>(r.views.size());
    Tensor sizes = Tensor::empty({n, 2}, DType::I32);
    for (int64_t v = 0; v < n; ++v) {
      sizes.data_as<int32_t>()[2 * v] = r.views[size_t(v)].orig_width;
      sizes.data_as<int32_t>()[2 * v + 1] = r.views[size_t(v)].orig_height;
    }
    npz.add("source_sizes", sizes);
    if (r.intrinsics.defined() && r.intrinsics.size(0) == n) {
      Tensor k = Tensor::empty({n, 3, 3});
      for (int64_t v = 0; v < n; ++v)
        std::memcpy(k.data_as<float>() + 9 * v, intrinsics_at_source(r, v).data_as<float>(), 9 * sizeof(float));
      npz.add("source_intrinsics", k);
    }
  }
  if (!mini)  // --export-feat: the backbone features, (N, H/14, W/14, C), in input order
    for (const auto& [name, f] : r.features) npz.add(name, f);
  if (!mini && o.original_size) {
    // At the source size beside the reference's keys (which stay at the processed size).
    const auto [w0, h0] = common_source_size(r.views);
    const int64_t n = r.depth.size(0);
    Tensor depth = Tensor::empty({n, h0, w0}), conf;
    if (r.conf.defined()) conf = Tensor::empty({n, h0, w0});
    for (int64_t v = 0; v < n; ++v) {
      const OriginalSizeView ov = to_original_size(r, v);
      std::memcpy(depth.data_as<float>() + v * h0 * w0, ov.depth.data(), ov.depth.nbytes());
      if (conf.defined()) std::memcpy(conf.data_as<float>() + v * h0 * w0, ov.conf.data(), ov.conf.nbytes());
    }
    npz.add("depth_original", np_round(depth, 6));
    if (conf.defined()) npz.add("conf_original", np_round(conf, 2));
  }
  npz.commit();
}

}  // namespace

void export_npz(const InferenceResult& r, const std::string& path, const ExportOptions& o) { write(r, path, false, o); }
void export_mini_npz(const InferenceResult& r, const std::string& path) { write(r, path, true); }

}  // namespace da3
