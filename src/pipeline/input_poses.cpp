// The pose-conditioned path of api.py: _normalize_extrinsics before the network and
// _align_to_input_extrinsics_intrinsics (align_to_input_ext_scale=True) after it.
#include <algorithm>
#include <cmath>

#include "da3/error.hpp"
#include "da3/pipeline.hpp"
#include "pipeline/pose_alignment.hpp"

namespace da3 {

namespace {

using pipeline::Vec3;

// w2c [R | t] -> camera centre -Rᵀ t (the translation of the rigid inverse, as affine_inverse).
Vec3 centre(const float* e, int64_t row_stride) {
  Vec3 c{};
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) c[i] -= double(e[k * row_stride + i]) * e[k * row_stride + 3];
  return c;
}

}  // namespace

Tensor normalize_input_extrinsics(const Tensor& ext) {
  DA3_CHECK(ext.dim() == 4 && ext.size(0) == 1 && ext.size(2) == 4 && ext.size(3) == 4,
            "normalize_input_extrinsics: need (1, N, 4, 4), got " + shape_str(ext.shape()));
  const Tensor e = ext.to(DType::F64).contiguous();
  const int64_t n = e.size(1);
  const double* E = e.data_as<double>();
  // inverse(E0) = [R0ᵀ | -R0ᵀ t0]
  double inv0[16] = {0};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) inv0[i * 4 + j] = E[j * 4 + i];
    for (int k = 0; k < 3; ++k) inv0[i * 4 + 3] -= E[k * 4 + i] * E[k * 4 + 3];
  }
  inv0[15] = 1;
  std::vector<double> out(static_cast<size_t>(n) * 16);
  std::vector<double> dists;
  for (int64_t v = 0; v < n; ++v) {
    const double* A = E + v * 16;
    double* O = out.data() + v * 16;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) {
        double s = 0;
        for (int k = 0; k < 4; ++k) s += A[i * 4 + k] * inv0[k * 4 + j];
        O[i * 4 + j] = s;
      }
    double d2 = 0;
    for (int i = 0; i < 3; ++i) {
      double c = 0;
      for (int k = 0; k < 3; ++k) c -= O[k * 4 + i] * O[k * 4 + 3];
      d2 += c * c;
    }
    dists.push_back(std::sqrt(d2));
  }
  // torch.median: the lower of the two middle values for an even count.
  std::vector<double> sorted = dists;
  std::sort(sorted.begin(), sorted.end());
  const double median = std::max(sorted[(sorted.size() - 1) / 2], 0.1);
  Tensor r = Tensor::empty({1, n, 4, 4});
  float* R = r.data_as<float>();
  for (int64_t v = 0; v < n; ++v)
    for (int i = 0; i < 16; ++i) {
      const bool translation = i % 4 == 3 && i < 12;
      R[v * 16 + i] = static_cast<float>(out[size_t(v) * 16 + i] / (translation ? median : 1.0));
    }
  return r;
}

void align_to_input_cameras(InferenceResult& r, const PreprocessedBatch& batch, uint64_t seed) {
  if (!batch.extrinsics.defined()) return;  // nothing to align to, as in the reference
  DA3_CHECK(batch.intrinsics.defined(), "align_to_input_cameras: the batch has extrinsics but no intrinsics");
  DA3_CHECK(r.extrinsics.defined(), "align_to_input_cameras: the result has no predicted poses to align");
  const int64_t n = r.extrinsics.size(0);
  DA3_CHECK(batch.extrinsics.size(1) == n, "align_to_input_cameras: the batch and the result differ in views");
  std::vector<Vec3> predicted, given;
  const float* pe = r.extrinsics.data_as<float>();
  const float* ge = batch.extrinsics.data_as<float>();
  for (int64_t v = 0; v < n; ++v) {
    predicted.push_back(centre(pe + v * 12, 4));
    given.push_back(centre(ge + v * 16, 4));
  }
  const pipeline::Sim3 m = pipeline::align_camera_centres(predicted, given, n >= 10, seed);
  // Depth from network units into the given poses' units (numpy divides in float32).
  const float scale = static_cast<float>(m.s);
  float* d = r.depth.data_as<float>();
  for (int64_t i = 0; i < r.depth.numel(); ++i) d[i] /= scale;
  r.extrinsics = batch.extrinsics.squeeze(0).slice(1, 0, 3).contiguous();
  r.intrinsics = batch.intrinsics.squeeze(0).contiguous();
}

}  // namespace da3
