// The F(4x4, 3x3) Winograd kernel against a direct convolution computed in double: every output
// pixel (partial edge tiles, band mode without row padding, several images), the epilogue
// (bias, residual, ReLU), and the size of its rounding error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/conv3x3_winograd.hpp"

using namespace da3::kernels;

namespace {

struct Case {
  int64_t n, h, w, in, out;
  int pad_rows;
};

std::vector<float> random_vec(size_t n, std::mt19937& rng, float scale) {
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// y[b, oy, ox, o] = bias[o] + sum x[b, oy + i - pad_rows, ox + j - 1, c] * w[o, c, i, j]
std::vector<double> direct(const Case& c, const std::vector<float>& x, const std::vector<float>& w,
                           const std::vector<float>& bias) {
  const int64_t oh = c.h + 2 * c.pad_rows - 2;
  std::vector<double> y(static_cast<size_t>(c.n * oh * c.w * c.out));
  for (int64_t b = 0; b < c.n; ++b)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < c.w; ++ox)
        for (int64_t o = 0; o < c.out; ++o) {
          double s = bias.empty() ? 0.0 : bias[o];
          for (int i = 0; i < 3; ++i) {
            const int64_t iy = oy + i - c.pad_rows;
            if (iy < 0 || iy >= c.h) continue;
            for (int j = 0; j < 3; ++j) {
              const int64_t ix = ox + j - 1;
              if (ix < 0 || ix >= c.w) continue;
              const float* xp = &x[((b * c.h + iy) * c.w + ix) * c.in];
              for (int64_t ci = 0; ci < c.in; ++ci) s += double(xp[ci]) * w[((o * c.in + ci) * 3 + i) * 3 + j];
            }
          }
          y[((b * oh + oy) * c.w + ox) * c.out + o] = s;
        }
  return y;
}

// max |got - want| / max |want|
double max_rel_err(const std::vector<float>& got, const std::vector<double>& want) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, std::abs(got[i] - want[i]));
    ref = std::max(ref, std::abs(want[i]));
  }
  return err / ref;
}

class ConvWinograd : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!conv3x3_winograd_available()) GTEST_SKIP() << "this CPU has no AVX2 + FMA";
  }
};

TEST_P(ConvWinograd, MatchesDirectConvolution) {
  const Case c = GetParam();
  std::mt19937 rng(7);
  const auto x = random_vec(c.n * c.h * c.w * c.in, rng, 1.f);
  const auto w = random_vec(c.out * c.in * 9, rng, 1.f / std::sqrt(9.f * c.in));
  const auto bias = random_vec(c.out, rng, 0.5f);
  const auto want = direct(c, x, w, bias);
  const auto u = winograd_f43_weights(w.data(), c.out, c.in);

  // Every body this CPU runs (AVX2 and, where present, AVX-512).
  for (WinogradIsa isa : {WinogradIsa::Avx2, WinogradIsa::Avx512}) {
    if (!conv3x3_winograd_isa_supported(isa)) continue;
    std::vector<float> y(want.size(), std::nanf(""));  // every element must be written
    Conv3x3Problem p;
    p.x = x.data();
    p.n = c.n, p.h = c.h, p.w = c.w, p.in = c.in, p.pad_rows = c.pad_rows;
    p.u = u.data(), p.bias = bias.data(), p.out = c.out, p.y = y.data();
    conv3x3_winograd(p, isa);
    // Direct fp32 convolutions land near 1e-7 here; F(4x4, 3x3) at 1e-6 to 5e-6 up to 64 input
    // channels and 1.1e-5 at 256 (rounding grows like the square root of the 9·in terms summed).
    // Any wrong coefficient or misplaced tile gives errors of order 1.
    EXPECT_LT(max_rel_err(y, want), 1e-5 * std::max(1.0, std::sqrt(c.in / 64.0))) << conv3x3_winograd_isa_name(isa);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvWinograd,
                         ::testing::Values(Case{1, 8, 8, 8, 8, 1},        // one tile row, exact tiles
                                           Case{1, 13, 11, 16, 24, 1},    // partial tiles both ways; 16 + 8 outputs
                                           Case{2, 9, 39, 8, 16, 1},      // two images, partial last tile column
                                           Case{1, 10, 21, 32, 32, 0},    // band: 8 output rows, no row padding
                                           Case{1, 5, 6, 48, 64, 0},      // band of 3 rows (partial tile)
                                           Case{1, 1, 3, 8, 8, 1},        // single input row
                                           Case{3, 12, 40, 64, 32, 1},    // head-like channels
                                           Case{1, 5, 150, 256, 128, 1},  // >= 384 channels: 38 tiles a row, blocks of 24 + 14
                                           Case{1, 9, 17, 16, 88, 1},     // AVX-512 columns: 64 + 16 + 8
                                           Case{1, 6, 10, 24, 112, 1}));  // 64 + 48

TEST(ConvWinogradEpilogue, BiasResidualThenRelu) {
  if (!conv3x3_winograd_available()) GTEST_SKIP() << "this CPU has no AVX2 + FMA";
  const Case c{1, 7, 9, 16, 16, 1};
  std::mt19937 rng(3);
  const auto x = random_vec(c.n * c.h * c.w * c.in, rng, 1.f);
  const auto w = random_vec(c.out * c.in * 9, rng, 0.1f);
  const auto bias = random_vec(c.out, rng, 0.5f);
  const auto residual = random_vec(c.n * c.h * c.w * c.out, rng, 1.f);
  auto want = direct(c, x, w, bias);
  for (size_t i = 0; i < want.size(); ++i) want[i] = std::max(0.0, want[i] + residual[i]);
  const auto u = winograd_f43_weights(w.data(), c.out, c.in);

  std::vector<float> y = residual;
  Conv3x3Problem p;
  p.x = x.data();
  p.n = c.n, p.h = c.h, p.w = c.w, p.in = c.in;
  p.u = u.data(), p.bias = bias.data(), p.out = c.out, p.y = y.data();
  p.accumulate = true, p.relu = true;
  conv3x3_winograd(p);
  EXPECT_LT(max_rel_err(y, want), 1e-5);
  EXPECT_EQ(*std::min_element(y.begin(), y.end()), 0.f);  // some outputs clipped, none negative
}

TEST(ConvWinogradEpilogue, RejectsChannelCountsItCannotVectorise) {
  EXPECT_FALSE(conv3x3_winograd_supports(12, 16));
  EXPECT_FALSE(conv3x3_winograd_supports(16, 2));
  EXPECT_TRUE(conv3x3_winograd_supports(48, 64));
}

}  // namespace
