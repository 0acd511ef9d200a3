// The LayerNorm row bodies (kernels/cpu/layer_norm_row.hpp): every body this CPU can run against a
// double-precision LayerNorm, at the widths DA3 uses (64: QK-norm; 384..1536: embeddings) and at
// widths that leave vector tails, with and without the affine part, in place and out of place.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "da3/cpu.hpp"
#include "kernels/cpu/layer_norm_row.hpp"

namespace {

using da3::kernels::LayerNormRowFn;

std::vector<float> values(int64_t n, unsigned seed, float offset) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t s = seed;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = offset + static_cast<float>(static_cast<int32_t>(s >> 8) % 20000 - 10000) * 1e-3f;
  }
  return v;
}

// y in double from the same inputs; *inv_std receives 1 / sqrt(var + eps).
std::vector<double> reference(const std::vector<float>& x, const float* w, const float* b, float eps,
                              double* inv_std) {
  const size_t n = x.size();
  double mean = 0, var = 0;
  for (float v : x) mean += v;
  mean /= static_cast<double>(n);
  for (float v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(n);
  *inv_std = 1.0 / std::sqrt(var + eps);
  std::vector<double> y(n);
  for (size_t i = 0; i < n; ++i) {
    y[i] = (x[i] - mean) / std::sqrt(var + eps);
    if (w) y[i] *= w[i];
    if (b) y[i] += b[i];
  }
  return y;
}

std::vector<std::pair<const char*, LayerNormRowFn>> bodies() {
  const auto& f = da3::cpu_features();
  std::vector<std::pair<const char*, LayerNormRowFn>> out{{"portable", &da3::kernels::layer_norm_row_portable}};
  if (f.avx2 && f.fma) out.emplace_back("avx2", &da3::kernels::layer_norm_row_avx2);
  if (f.avx512f && f.avx512bw && f.avx512vl && f.fma) out.emplace_back("avx512", &da3::kernels::layer_norm_row_avx512);
  return out;
}

TEST(LayerNormRow, EveryBodyMatchesDoublePrecision) {
  for (const auto& [name, fn] : bodies()) {
    for (int64_t n : {1, 7, 16, 23, 64, 384, 1023, 1536}) {
      // A large common offset: a one-pass (sum of squares) variance would lose it to cancellation.
      const auto x = values(n, static_cast<unsigned>(n), 300.f);
      const auto w = values(n, 7u, 1.f), b = values(n, 9u, 0.f);
      for (int affine = 0; affine < 2; ++affine) {
        const float* wp = affine ? w.data() : nullptr;
        const float* bp = affine ? b.data() : nullptr;
        double inv = 0;
        const auto ref = reference(x, wp, bp, 1e-5f, &inv);
        std::vector<float> y(x.size()), inplace = x;
        fn(x.data(), n, wp, bp, 1e-5f, y.data());
        fn(inplace.data(), n, wp, bp, 1e-5f, inplace.data());
        for (int64_t i = 0; i < n; ++i) {
          // fp32 normalisation, as torch's: x - mean is taken after both are rounded to float, so
          // the error scales with |x|·inv·|w| (an ulp of x), not with |y|.
          const double scale = std::fabs(x[i]) * inv * (wp ? std::fabs(wp[i]) : 1.0);
          const double tol = 2e-7 * scale + 4e-6 * (1.0 + std::fabs(ref[i]));
          ASSERT_NEAR(y[i], ref[i], tol) << name << " n=" << n << " affine=" << affine << " i=" << i;
          ASSERT_EQ(inplace[i], y[i]) << name << " in place differs, n=" << n << " i=" << i;
        }
      }
    }
  }
}

TEST(LayerNormRow, DispatchPicksTheWidestBodyThisCpuRuns) {
  EXPECT_EQ(da3::kernels::layer_norm_row(), bodies().back().second) << "picked a body other than " << bodies().back().first;
}

}  // namespace
