#include "pipeline/export_gs_ply.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
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

// The kept Gaussians, kFloats values each in the PLY's property order.
static std::vector<float> gs_ply_rows(const Prediction& p) {
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
  return rows;
}

void export_gs_ply(const Prediction& p, const std::string& path) {
  const std::vector<float> rows = gs_ply_rows(p);
  // plyfile's PlyData.write: binary, the machine's byte order (little-endian here), "float" for f4.
  std::string header = "ply\nformat binary_little_endian 1.0\nelement vertex " + std::to_string(rows.size() / kFloats) + "\n";
  for (const char* name : kProperties) header += std::string("property float ") + name + "\n";
  header += "end_header\n";
  AtomicFile f(path);
  f.write(header.data(), header.size());
  f.write(rows.data(), rows.size() * sizeof(float));
  f.commit();
}

void export_gs_splat(const Prediction& p, const std::string& path) {
  const std::vector<float> rows = gs_ply_rows(p);
  // Gaussians with a non-finite value (a negative scale from depth + offset < 0 has a NaN log)
  // cannot be drawn: left out.
  std::vector<size_t> keep;
  for (size_t i = 0; i * kFloats < rows.size(); ++i) {
    const float* r = &rows[i * kFloats];
    if (std::all_of(r, r + kFloats, [](float v) { return std::isfinite(v); })) keep.push_back(i);
  }
  const auto sigmoid = [](float x) { return 1.f / (1.f + std::exp(-x)); };
  // Largest and most opaque first (volume · opacity), so a viewer that streams the file draws
  // the Gaussians that matter first.
  std::vector<float> importance(rows.size() / kFloats);
  for (size_t i : keep) {
    const float* r = &rows[i * kFloats];
    importance[i] = std::exp(r[10] + r[11] + r[12]) * sigmoid(r[9]);
  }
  std::stable_sort(keep.begin(), keep.end(), [&](size_t a, size_t b) { return importance[a] > importance[b]; });
  const auto byte = [](float v) { return static_cast<uint8_t>(std::clamp(v, 0.f, 255.f)); };  // truncates
  constexpr float kShC0 = 0.28209479177387814f;  // Y_0^0: DC coefficient -> colour offset from 0.5
  std::vector<uint8_t> out(keep.size() * 32);
  for (size_t k = 0; k < keep.size(); ++k) {
    const float* r = &rows[keep[k] * kFloats];
    uint8_t* o = &out[k * 32];
    float xyz_scale[6] = {r[0], r[1], r[2], std::exp(r[10]), std::exp(r[11]), std::exp(r[12])};
    std::memcpy(o, xyz_scale, sizeof xyz_scale);
    for (int c = 0; c < 3; ++c) o[24 + c] = byte((0.5f + kShC0 * r[6 + c]) * 255.f);
    o[27] = byte(sigmoid(r[9]) * 255.f);
    const float qn = std::sqrt(r[13] * r[13] + r[14] * r[14] + r[15] * r[15] + r[16] * r[16]);
    for (int c = 0; c < 4; ++c) o[28 + c] = byte(r[13 + c] / qn * 128.f + 128.f);
  }
  AtomicFile f(path);
  f.write(out.data(), out.size());
  f.commit();
}

}  // namespace da3::pipeline
