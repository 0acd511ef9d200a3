#include "kernels/cpu/layer_norm_row.hpp"

#include <cmath>

#include "da3/cpu.hpp"

namespace da3::kernels {

void layer_norm_row_portable(const float* x, int64_t n, const float* w, const float* b, float eps, float* y) {
  double mean = 0.0;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  double var = 0.0;
  for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(n);
  const float inv = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
  const float m = static_cast<float>(mean);
  for (int64_t i = 0; i < n; ++i) {
    float v = (x[i] - m) * inv;
    if (w) v *= w[i];
    if (b) v += b[i];
    y[i] = v;
  }
}

LayerNormRowFn layer_norm_row() {
  static const LayerNormRowFn fn = [] {
    const CpuFeatures& f = cpu_features();
    if (f.avx512f && f.avx512bw && f.avx512vl && f.fma) return &layer_norm_row_avx512;
    if (f.avx2 && f.fma) return &layer_norm_row_avx2;
    return &layer_norm_row_portable;
  }();
  return fn;
}

}  // namespace da3::kernels
