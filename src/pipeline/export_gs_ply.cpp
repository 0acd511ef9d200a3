#include "pipeline/export_gs_ply.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "da3/error.hpp"
#include "io/atomic_file.hpp"
#include "pipeline/percentile.hpp"

namespace da3::pipeline {

namespace {

// construct_list_of_attributes(num_rest=0): save_sh_dc_only drops f_rest.
const char* const kProperties[] = {"x",      "y",       "z",       "nx",      "ny",      "nz",
                                   "f_dc_0", "f_dc_1",  "f_dc_2",  "opacity", "scale_0", "scale_1",
                                   "scale_2", "rot_0",  "rot_1",   "rot_2",   "rot_3"};
constexpr int kFloats = 17;

}  // namespace

void export_gs_ply(const Prediction& p, const std::string& path) {
  DA3_CHECK(p.gs_means.defined() && p.gs_scales.defined() && p.gs_rotations.defined() && p.gs_harmonics.defined() &&
                p.gs_opacities.defined(),
            "gs_ply export: the prediction has no Gaussians (run the model with infer_gs / --gaussians)");
  DA3_CHECK(p.depth.defined() && p.depth.dim() == 4 && p.depth.size(0) == 1,
            "gs_ply export: needs the depth (1, N, H, W), got " + p.depth.describe());
  const int64_t N = p.depth.size(1), H = p.depth.size(2), W = p.depth.size(3), G = N * H * W;
  DA3_CHECK(p.gs_means.shape() == (Shape{1, G, 3}) && p.gs_harmonics.dim() == 4 && p.gs_harmonics.size(1) == G &&
                p.gs_opacities.shape() == (Shape{1, G}),
            "gs_ply export: Gaussians " + p.gs_means.describe() + " do not match the depth " + p.depth.describe());
  const Tensor depth = p.depth.contiguous(), means = p.gs_means.contiguous(), scales = p.gs_scales.contiguous(),
               rots = p.gs_rotations.contiguous(), sh = p.gs_harmonics.contiguous(), opa = p.gs_opacities.contiguous();
  const int64_t d_sh = sh.size(3);

  // prune_border_gs: mask[:, th:-th, tw:-tw] = 1. With a trim of 0 that slice is empty in
  // Python, so the reference keeps nothing; we do the same rather than guess.
  const int64_t th = static_cast<int64_t>(8.0 / 256.0 * H), tw = static_cast<int64_t>(8.0 / 256.0 * W);
  std::vector<float> rows;
  for (int64_t v = 0; v < N; ++v) {
    // prune_by_depth_percent 0.9: torch.quantile (linear) over the view's depth, keep <=
    const float* d = depth.data_as<float>() + v * H * W;
    std::vector<float> all(d, d + H * W);
    const float limit = static_cast<float>(percentile_linear(all, 90.0));
    for (int64_t y = th; y < H - th && th > 0; ++y)
      for (int64_t x = tw; x < W - tw && tw > 0; ++x) {
        const int64_t pix = y * W + x, g = v * H * W + pix;
        if (!(d[pix] <= limit)) continue;
        float row[kFloats] = {};
        std::memcpy(row, means.data_as<float>() + g * 3, 3 * sizeof(float));
        for (int c = 0; c < 3; ++c) row[6 + c] = sh.data_as<float>()[(g * 3 + c) * d_sh];  // harmonics[..., 0]
        const float o = opa.data_as<float>()[g];
        row[9] = std::log(o / (1.f - o));  // inverse_sigmoid
        for (int i = 0; i < 3; ++i) row[10 + i] = std::log(scales.data_as<float>()[g * 3 + i]);
        std::memcpy(row + 13, rots.data_as<float>() + g * 4, 4 * sizeof(float));
        rows.insert(rows.end(), row, row + kFloats);
      }
  }
  static_assert(std::endian::native == std::endian::little, "the rows are written in the machine's byte order");
  // plyfile's PlyData.write: binary, the machine's byte order (little-endian here), "float" for f4.
  std::string header = "ply\nformat binary_little_endian 1.0\nelement vertex " + std::to_string(rows.size() / kFloats) + "\n";
  for (const char* name : kProperties) header += std::string("property float ") + name + "\n";
  header += "end_header\n";
  AtomicFile f(path);
  f.write(header.data(), header.size());
  f.write(rows.data(), rows.size() * sizeof(float));
  f.commit();
}

}  // namespace da3::pipeline
