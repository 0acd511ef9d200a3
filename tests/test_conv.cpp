// nn::Conv2d / nn::ConvTranspose2d (oneDNN, NHWC) against direct loops written from PyTorch's
// definitions, with PyTorch's weight layouts (OIHW / IOHW), plus the NHWC bilinear resize
// against the NCHW one. Channel counts are unequal on purpose so a swapped in/out axis fails.
#include <gtest/gtest.h>

#include <random>

#include "nn/conv.hpp"
#include "nn/conv_transpose.hpp"
#include "nn/interpolate.hpp"
#include "nn/interpolate_nhwc.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

Tensor randn(const Shape& s, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  Tensor t = Tensor::empty(s);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = d(g);
  return t;
}

// y = conv2d(x, w, b) for NHWC x and PyTorch (O, I, k, k) w, in double.
Tensor ref_conv(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p) {
  const int64_t n = x.size(0), h = x.size(1), wd = x.size(2), ci = x.size(3), co = w.size(0), k = w.size(2);
  const int64_t oh = (h + 2 * p - k) / s + 1, ow = (wd + 2 * p - k) / s + 1;
  Tensor y = Tensor::empty({n, oh, ow, co});
  const float* xp = x.data_as<float>();
  const float* wp = w.data_as<float>();
  for (int64_t b0 = 0; b0 < n; ++b0)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t o = 0; o < co; ++o) {
          double acc = b.defined() ? b.data_as<float>()[o] : 0.0;
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t iy = oy * s - p + ky, ix = ox * s - p + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
              for (int64_t i = 0; i < ci; ++i)
                acc += double(xp[((b0 * h + iy) * wd + ix) * ci + i]) * wp[((o * ci + i) * k + ky) * k + kx];
            }
          y.data_as<float>()[((b0 * oh + oy) * ow + ox) * co + o] = static_cast<float>(acc);
        }
  return y;
}

// y = conv_transpose2d(x, w, b) for NHWC x and PyTorch (I, O, k, k) w: every input pixel
// scatters w[i, o] into the outputs at iy·s - p + ky.
Tensor ref_deconv(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p) {
  const int64_t n = x.size(0), h = x.size(1), wd = x.size(2), ci = x.size(3), co = w.size(1), k = w.size(2);
  const int64_t oh = (h - 1) * s - 2 * p + k, ow = (wd - 1) * s - 2 * p + k;
  std::vector<double> acc(static_cast<size_t>(n * oh * ow * co), 0.0);
  const float* xp = x.data_as<float>();
  const float* wp = w.data_as<float>();
  for (int64_t b0 = 0; b0 < n; ++b0)
    for (int64_t iy = 0; iy < h; ++iy)
      for (int64_t ix = 0; ix < wd; ++ix)
        for (int64_t ky = 0; ky < k; ++ky)
          for (int64_t kx = 0; kx < k; ++kx) {
            const int64_t oy = iy * s - p + ky, ox = ix * s - p + kx;
            if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
            for (int64_t i = 0; i < ci; ++i)
              for (int64_t o = 0; o < co; ++o)
                acc[((b0 * oh + oy) * ow + ox) * co + o] +=
                    double(xp[((b0 * h + iy) * wd + ix) * ci + i]) * wp[((i * co + o) * k + ky) * k + kx];
          }
  Tensor y = Tensor::empty({n, oh, ow, co});
  for (int64_t j = 0; j < y.numel(); ++j)
    y.data_as<float>()[j] = static_cast<float>(acc[j] + (b.defined() ? b.data_as<float>()[j % co] : 0.0));
  return y;
}

Tensor relu_copy(const Tensor& x) {
  Tensor y = x.clone();
  for (int64_t i = 0; i < y.numel(); ++i) y.data_as<float>()[i] = std::max(y.data_as<float>()[i], 0.f);
  return y;
}

struct ConvCase {
  int64_t n, h, w, ci, co, k, s, p;
  bool bias;
};

}  // namespace

TEST(Conv2d, MatchesDirectLoops) {
  const ConvCase cases[] = {
      {2, 6, 9, 5, 7, 3, 1, 1, true},     // 3x3 "same", odd channel counts
      {1, 5, 4, 8, 16, 3, 2, 1, true},    // the /2 resize layer: odd height, even width
      {1, 4, 7, 32, 32, 3, 2, 1, true},   // same, blocked channel counts
      {3, 7, 5, 48, 96, 1, 1, 0, true},   // a projection
      {1, 8, 6, 24, 16, 3, 1, 1, false},  // scratch.layer*_rn: no bias
      {2, 9, 11, 32, 2, 1, 1, 0, true},   // the final 1x1 to (depth, conf)
  };
  uint32_t seed = 1;
  for (const ConvCase& c : cases) {
    const Tensor w = randn({c.co, c.ci, c.k, c.k}, seed++), b = c.bias ? randn({c.co}, seed++) : Tensor();
    const Tensor x = randn({c.n, c.h, c.w, c.ci}, seed++);
    nn::Conv2d conv(w, b, c.s, c.p);
    const Tensor want = ref_conv(x, w, b, c.s, c.p);
    const std::string what =
        "conv " + shape_str(w.shape()) + " s" + std::to_string(c.s) + " on " + shape_str(x.shape());
    EXPECT_LT(test::rel_err(conv.forward(x), want), 1e-5) << what;
    EXPECT_LT(test::rel_err(conv.forward(x, {.relu = true}), relu_copy(want)), 1e-5) << what << " + relu";
    // Residual: the result is added into (and written to) the accumulator.
    Tensor acc = randn(want.shape(), seed++);
    const Tensor acc0 = acc.clone();
    const Tensor got = conv.forward(x, {.accumulate = &acc});
    EXPECT_EQ(got.data(), acc.data()) << what;
    Tensor sum = want.clone();
    for (int64_t i = 0; i < sum.numel(); ++i) sum.data_as<float>()[i] += acc0.data_as<float>()[i];
    EXPECT_LT(test::rel_err(acc, sum), 1e-5) << what << " + accumulate";
  }
}

TEST(Conv2d, OtherInputSizesReuseTheLayer) {
  // One layer, many shapes: each gets its own primitive and, if its kernel wants it, another
  // weight packing (made from the first). Includes sizes smaller than the nominal one.
  const Tensor w = randn({16, 8, 3, 3}, 7), b = randn({16}, 8);
  nn::Conv2d conv(w, b, 1, 1);
  for (auto [h, wd] : {std::pair<int64_t, int64_t>{1, 1}, {2, 3}, {37, 28}, {4, 4}}) {
    const Tensor x = randn({1, h, wd, 8}, static_cast<uint32_t>(h * 100 + wd));
    EXPECT_LT(test::rel_err(conv.forward(x), ref_conv(x, w, b, 1, 1)), 1e-5) << h << "x" << wd;
  }
}

TEST(Conv2d, RejectsWrongInputs) {
  nn::Conv2d conv(randn({4, 3, 3, 3}, 1), randn({4}, 2), 1, 1, "head.test_conv");
  try {
    conv.forward(Tensor::zeros({1, 5, 5, 4}));  // 4 channels, layer takes 3
    FAIL() << "expected da3::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("head.test_conv"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(N, H, W, 3)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(conv.forward(Tensor::zeros({1, 3, 5, 5}).permute({0, 2, 3, 1})), Error);  // not contiguous
  EXPECT_THROW(nn::Conv2d(randn({4, 3, 3, 3}, 1), randn({5}, 2), 1, 1), Error);          // bias size
  EXPECT_THROW(nn::Conv2d(randn({4, 3, 3}, 1), Tensor(), 1, 1), Error);                  // not 4-D
}

TEST(ConvTranspose2d, MatchesDirectLoops) {
  const ConvCase cases[] = {
      {2, 3, 5, 6, 10, 4, 4, 0, true},   // resize_layers.0: x4, in != out
      {1, 4, 3, 16, 12, 2, 2, 0, true},  // resize_layers.1: x2
      {1, 5, 4, 8, 8, 3, 2, 1, true},    // overlapping taps and padding (general case)
      {1, 3, 3, 5, 3, 2, 2, 0, false},   // no bias
      {2, 4, 4, 6, 4, 2, 1, 0, true},    // overlapping taps, no padding
  };
  uint32_t seed = 100;
  for (const ConvCase& c : cases) {
    const Tensor w = randn({c.ci, c.co, c.k, c.k}, seed++), b = c.bias ? randn({c.co}, seed++) : Tensor();
    const Tensor x = randn({c.n, c.h, c.w, c.ci}, seed++);
    nn::ConvTranspose2d deconv(w, b, c.s, c.p);
    const Tensor want = ref_deconv(x, w, b, c.s, c.p);
    const std::string what = "deconv " + shape_str(w.shape()) + " s" + std::to_string(c.s) + " on " +
                             shape_str(x.shape()) + " (" + deconv.implementation(c.n, c.h, c.w) + ")";
    EXPECT_LT(test::rel_err(deconv.forward(x), want), 1e-5) << what;
    // Epilogue: accumulate, then ReLU.
    Tensor acc = randn(want.shape(), seed++);
    Tensor sum = want.clone();
    for (int64_t i = 0; i < sum.numel(); ++i)
      sum.data_as<float>()[i] = std::max(sum.data_as<float>()[i] + acc.data_as<float>()[i], 0.f);
    deconv.forward(x, {.accumulate = &acc, .relu = true});
    EXPECT_LT(test::rel_err(acc, sum), 1e-5) << what << " + accumulate + relu";
  }
  EXPECT_THROW(nn::ConvTranspose2d(randn({6, 10, 4, 4}, 1), Tensor(), 4, 0).forward(Tensor::zeros({1, 2, 2, 10})),
               Error);
}

TEST(InterpolateNhwc, MatchesTheNchwResize) {
  const Tensor x = randn({2, 5, 7, 3}, 42);  // NHWC
  const Tensor x_nchw = x.permute({0, 3, 1, 2}).contiguous();
  for (bool ac : {true, false})
    for (auto [oh, ow] : {std::pair<int64_t, int64_t>{10, 14}, {9, 4}, {5, 7}, {1, 1}}) {
      const Tensor got = nn::interpolate_bilinear_nhwc(x, oh, ow, ac);
      const Tensor want = nn::interpolate_bilinear(x_nchw, oh, ow, ac).permute({0, 2, 3, 1}).contiguous();
      EXPECT_LT(test::rel_err(got, want), 1e-7) << oh << "x" << ow << " align_corners " << ac;
    }
  // align_corners: the corners are copied exactly.
  const Tensor up = nn::interpolate_bilinear_nhwc(x, 13, 19, true);
  for (int64_t c = 0; c < 3; ++c) {
    EXPECT_EQ(up.item_f({1, 0, 0, c}), x.item_f({1, 0, 0, c}));
    EXPECT_EQ(up.item_f({1, 12, 18, c}), x.item_f({1, 4, 6, c}));
  }
}
