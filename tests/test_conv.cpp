// nn::Conv2d / nn::ConvTranspose2d (oneDNN, NHWC) against direct loops written from PyTorch's
// definitions, with PyTorch's weight layouts (OIHW / IOHW), plus the NHWC bilinear resize
// against the NCHW one. Channel counts are unequal on purpose so a swapped in/out axis fails.
// Conv2d's Winograd path (3x3 stride 1) against its oneDNN path on the same layer: forward,
// forward_band and the epilogues, when Auto picks it, and its lazy weight transform.
#include <gtest/gtest.h>

#include <cmath>
#include <latch>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "da3/cpu.hpp"
#include "da3/dtype.hpp"
#include "da3/profile.hpp"
#include "da3/safetensors.hpp"
#include "kernels/cpu/conv3x3_winograd.hpp"
#include "nn/conv.hpp"
#include "nn/conv_transpose.hpp"
#include "nn/interpolate.hpp"
#include "nn/elementwise.hpp"
#include "nn/interpolate_nhwc.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

using test::randn;


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

// A bf16 layer (DA3_HEAD_BF16's heads on AMX): input and weights rounded to bf16, products
// accumulated in f32 — so it equals the f32 loops run on the rounded values (to f32 summation
// error) and is measurably not the unrounded f32 result. Residual, ReLU and bands as in f32.
TEST(Conv2d, Bf16ComputeIsTheF32ConvolutionOfRoundedValues) {
  if (!cpu_features().bf16_arithmetic()) GTEST_SKIP() << "this CPU has no bf16 arithmetic (" << cpu_isa_name() << ")";
  const auto rounded = [](const Tensor& t) {
    Tensor r = t.clone();
    for (int64_t i = 0; i < r.numel(); ++i) r.data_as<float>()[i] = bf16_to_f32(f32_to_bf16(r.data_as<float>()[i]));
    return r;
  };
  const ConvCase cases[] = {
      {2, 6, 9, 16, 32, 3, 1, 1, true},   // 3x3 "same" (never Winograd in bf16)
      {1, 5, 4, 8, 16, 3, 2, 1, true},    // the /2 resize layer
      {3, 7, 5, 48, 96, 1, 1, 0, true},   // a projection
      {1, 40, 36, 32, 64, 3, 1, 1, false},  // scratch.layer*_rn: no bias, >= 1024 pixels
  };
  uint32_t seed = 101;
  for (const ConvCase& c : cases) {
    const Tensor w = randn({c.co, c.ci, c.k, c.k}, seed++), b = c.bias ? randn({c.co}, seed++) : Tensor();
    const Tensor x = randn({c.n, c.h, c.w, c.ci}, seed++);
    nn::Conv2d conv(w, b, c.s, c.p, "bf16conv", DType::BF16);
    EXPECT_EQ(conv.compute_dtype(), DType::BF16);
    EXPECT_EQ(conv.implementation(c.n, c.h, c.w).find("winograd"), std::string::npos);
    const Tensor want = ref_conv(rounded(x), rounded(w), b, c.s, c.p);
    const std::string what = "bf16 conv " + shape_str(w.shape()) + " on " + shape_str(x.shape());
    EXPECT_LT(test::rel_err(conv.forward(x), want), 1e-5) << what;
    EXPECT_GT(test::rel_err(conv.forward(x), ref_conv(x, w, b, c.s, c.p)), 1e-4) << what << ": not rounded to bf16";
    EXPECT_LT(test::rel_err(conv.forward(x, {.relu = true}), relu_copy(want)), 1e-5) << what << " + relu";
    Tensor acc = randn(want.shape(), seed++);
    const Tensor acc0 = acc.clone();
    conv.forward(x, {.accumulate = &acc});
    Tensor sum = want.clone();
    for (int64_t i = 0; i < sum.numel(); ++i) sum.data_as<float>()[i] += acc0.data_as<float>()[i];
    EXPECT_LT(test::rel_err(acc, sum), 1e-5) << what << " + accumulate";
  }
  EXPECT_THROW(nn::Conv2d(randn({4, 4, 3, 3}, 1), Tensor(), 1, 1, "f16conv", DType::F16), Error);
}

TEST(Conv2d, OtherInputSizesReuseTheLayer) {
  // One layer, many shapes: each gets its own primitive and, if its kernel wants it, another
  // weight packing (made from the PyTorch-layout weights). Includes very small sizes.
  const Tensor w = randn({16, 8, 3, 3}, 7), b = randn({16}, 8);
  nn::Conv2d conv(w, b, 1, 1);
  for (auto [h, wd] : {std::pair<int64_t, int64_t>{1, 1}, {2, 3}, {37, 28}, {4, 4}}) {
    const Tensor x = randn({1, h, wd, 8}, static_cast<uint32_t>(h * 100 + wd));
    EXPECT_LT(test::rel_err(conv.forward(x), ref_conv(x, w, b, 1, 1)), 1e-5) << h << "x" << wd;
  }
}

TEST(Conv2d, WeightsReadFromAMappedCheckpointInItsOwnDtype) {
  // The model binds convolutions to the checkpoint's mapped tensors as stored (F32 or F16) and
  // packs them on first use, dropping the file's pages afterwards: every later layout (another
  // input size, Winograd) is made from pages read back from the file.
  test::TempDir d;
  const Tensor w = randn({16, 16, 3, 3}, 21), b = randn({16}, 22);
  save_safetensors(d.file("conv.safetensors"), {{"w32", w}, {"w16", w.to(DType::F16)}, {"b", b}});
  const SafetensorsFile f = SafetensorsFile::open(d.file("conv.safetensors"));
  for (const char* name : {"w32", "w16"}) {
    const Tensor stored = f.tensor(name);
    ASSERT_EQ(stored.dtype(), std::string(name) == "w32" ? DType::F32 : DType::F16);
    const Tensor as_f32 = stored.to(DType::F32);  // what the layer must compute with
    nn::Conv2d conv(stored, f.tensor("b"), 1, 1, name);
    for (auto [h, wd] : {std::pair<int64_t, int64_t>{2, 3}, {40, 40}, {37, 28}, {40, 40}}) {
      const Tensor x = randn({1, h, wd, 16}, static_cast<uint32_t>(h * 100 + wd));
      EXPECT_LT(test::rel_err(conv.forward(x), ref_conv(x, as_f32, b, 1, 1)), 1e-5)
          << name << " " << h << "x" << wd << " (" << conv.implementation(1, h, wd) << ")";
    }
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

namespace {

// The Winograd body this CPU runs ("winograd_f4x3:avx2" or ":avx512").
const std::string kWinograd =
    std::string("winograd_f4x3:") + kernels::conv3x3_winograd_isa_name(kernels::conv3x3_winograd_best_isa());

bool is_winograd(const std::string& impl) { return impl.find("winograd") != std::string::npos; }

// The same 3x3 stride-1 padding-1 layer twice, one forced onto each path.
struct ConvPair {
  nn::Conv2d wino, direct;
  ConvPair(const Tensor& w, const Tensor& b) : wino(w, b, 1, 1, "test.wino"), direct(w, b, 1, 1, "test.direct") {
    wino.set_algorithm(nn::ConvAlgorithm::Winograd);
    direct.set_algorithm(nn::ConvAlgorithm::Direct);
  }
};

// Both paths of `p` on x (band or whole map) with every epilogue: plain, ReLU, accumulate into a
// residual, accumulate then ReLU. Returns the plain Winograd result.
Tensor expect_paths_agree(const ConvPair& p, const Tensor& x, bool band, const std::string& what) {
  auto run = [band](const nn::Conv2d& c, const Tensor& x, const nn::ConvEpilogue& ep) {
    return band ? c.forward_band(x, ep) : c.forward(x, ep);
  };
  const Tensor got = run(p.wino, x, {}), want = run(p.direct, x, {});
  EXPECT_LT(test::rel_err(got, want), 1e-5) << what;
  EXPECT_LT(test::rel_err(run(p.wino, x, {.relu = true}), run(p.direct, x, {.relu = true})), 1e-5)
      << what << " + relu";
  // A ReLU on the input: read through by Winograd, a copy on the direct path; x is left as it is.
  const Tensor x_before = x.clone();
  const Tensor relu_in_w = run(p.wino, x, {.relu = true, .relu_input = true});
  const Tensor relu_in_d = run(p.direct, x, {.relu = true, .relu_input = true});
  EXPECT_LT(test::rel_err(relu_in_w, relu_in_d), 1e-5) << what << " + relu_input";
  EXPECT_EQ(test::rel_err(relu_in_d, run(p.direct, nn::relu(x), {.relu = true})), 0.0) << what;
  EXPECT_EQ(test::rel_err(x, x_before), 0.0) << what << ": relu_input changed its input";
  uint32_t seed = 900;
  for (bool relu : {false, true}) {
    Tensor acc_w = randn(want.shape(), seed++);
    Tensor acc_d = acc_w.clone();
    const Tensor r = run(p.wino, x, {.accumulate = &acc_w, .relu = relu});
    run(p.direct, x, {.accumulate = &acc_d, .relu = relu});
    EXPECT_EQ(r.data(), acc_w.data()) << what << ": the result is the accumulator";
    EXPECT_LT(test::rel_err(acc_w, acc_d), 1e-5) << what << " + accumulate" << (relu ? " + relu" : "");
  }
  return got;
}

}  // namespace

// f16 storage of the Winograd transform: close to the f32 layer (fp16's 11-bit mantissa), not
// bit-equal (the rounding happened), and the oneDNN path of the same layer untouched.
TEST(Conv2d, Fp16StoredWinogradWeightsStayCloseToF32) {
  if (!kernels::conv3x3_winograd_available()) GTEST_SKIP() << "this CPU has no AVX2 + FMA";
  const Tensor w = randn({32, 64, 3, 3}, 80, 0.05f), b = randn({32}, 81);
  nn::Conv2d f32(w, b, 1, 1, "test.f32"), f16(w, b, 1, 1, "test.f16", DType::F32, DType::F16);
  EXPECT_EQ(f16.storage_dtype(), DType::F16);
  f32.set_algorithm(nn::ConvAlgorithm::Winograd);
  f16.set_algorithm(nn::ConvAlgorithm::Winograd);
  const Tensor x = randn({2, 20, 24, 64}, 82);
  const Tensor a = f32.forward(x), c = f16.forward(x);
  const double e = test::rel_err(c, a);
  EXPECT_LT(e, 4e-3);  // 8 fp16 unit roundoffs: the output transform's coefficients reach 8 (1.6e-3 here)
  EXPECT_GT(e, 0.0) << "the fp16 transform was not used";
  EXPECT_EQ(test::rel_err(f16.forward(x), c), 0.0) << "a second call reads the same stored transform";
  f32.set_algorithm(nn::ConvAlgorithm::Direct);
  f16.set_algorithm(nn::ConvAlgorithm::Direct);
  EXPECT_EQ(test::rel_err(f16.forward(x), f32.forward(x)), 0.0);
  EXPECT_THROW(nn::Conv2d(w, b, 1, 1, "test.bad", DType::F32, DType::BF16), Error);
}

// relu_input reads a NaN in the input as nn::relu makes it (0) on both paths, so they agree.
TEST(Conv2d, ReluInputTreatsNaNAsReluDoes) {
  if (!kernels::conv3x3_winograd_available()) GTEST_SKIP() << "this CPU has no AVX2 + FMA";
  const ConvPair p(randn({16, 16, 3, 3}, 70), randn({16}, 71));
  Tensor x = randn({1, 12, 12, 16}, 72);
  x.data_as<float>()[(5 * 12 + 6) * 16 + 3] = std::nanf("");
  const Tensor want = p.direct.forward(nn::relu(x));
  for (const nn::Conv2d* c : {&p.wino, &p.direct}) {
    const Tensor y = c->forward(x, {.relu_input = true});
    EXPECT_LT(test::rel_err(y, want), 1e-5) << c->implementation(1, 12, 12);
  }
}

namespace {

// What Conv2d counts for one call (count_flops): a direct convolution's multiply-adds, or the
// Winograd GEMMs' (36 per 4x4 output tile and channel pair).
uint64_t direct_flops(int64_t n, int64_t oh, int64_t ow, int64_t ci, int64_t co) {
  return static_cast<uint64_t>(2 * n * oh * ow * ci * co * 9);
}
uint64_t winograd_flops(int64_t n, int64_t oh, int64_t ow, int64_t ci, int64_t co) {
  return static_cast<uint64_t>(2 * 36 * n * ((oh + 3) / 4) * ((ow + 3) / 4) * ci * co);
}

}  // namespace

TEST(Conv2d, WinogradMatchesDirect) {
  if (!kernels::conv3x3_winograd_available()) GTEST_SKIP() << "this CPU has no AVX2 + FMA";
  const ConvCase cases[] = {
      {2, 40, 40, 64, 64, 3, 1, 1, true},   // whole 4x4 tiles
      {2, 33, 37, 48, 64, 3, 1, 1, true},   // partial tiles on both edges, in != out
      {1, 21, 26, 16, 8, 3, 1, 1, false},   // no bias; out < one 16-wide GEMM block
  };
  uint32_t seed = 500;
  for (const ConvCase& c : cases) {
    const Tensor w = randn({c.co, c.ci, 3, 3}, seed++), b = c.bias ? randn({c.co}, seed++) : Tensor();
    const Tensor x = randn({c.n, c.h, c.w, c.ci}, seed++);
    const ConvPair p(w, b);
    const std::string what =
        "conv " + shape_str(w.shape()) + (c.bias ? "" : " (no bias)") + " on " + shape_str(x.shape());
    EXPECT_EQ(p.wino.implementation(c.n, c.h, c.w), kWinograd) << what;
    EXPECT_FALSE(is_winograd(p.direct.implementation(c.n, c.h, c.w))) << what;

    const Tensor full = expect_paths_agree(p, x, /*band=*/false, what);
    EXPECT_LT(test::rel_err(full, ref_conv(x, w, b, 1, 1)), 1e-5) << what << " against double";

    // Bands: input rows [r0 - 1, r0 + rows + 1) of the map, no row padding; the result is output
    // rows [r0, r0 + rows) of the whole-map convolution. 13 rows: a partial tile row.
    for (auto [r0, rows] : {std::pair<int64_t, int64_t>{1, 12}, {c.h - 14, 13}}) {
      const Tensor band = x.slice(1, r0 - 1, r0 + rows + 1).contiguous();
      const std::string bw = what + " band rows " + std::to_string(r0) + "+" + std::to_string(rows);
      const Tensor got = expect_paths_agree(p, band, /*band=*/true, bw);
      EXPECT_LT(test::rel_err(got, full.slice(1, r0, r0 + rows).contiguous()), 1e-5) << bw << " against the map";
    }
  }
  // Maps narrower or shorter than one tile, and a band of a single output row.
  const ConvPair small(randn({8, 8, 3, 3}, 560), randn({8}, 561));
  for (auto [h, wd] : {std::pair<int64_t, int64_t>{1, 1}, {1, 6}, {5, 2}, {2, 1030}}) {
    const Tensor x = randn({2, h, wd, 8}, static_cast<uint32_t>(h * 10000 + wd));
    EXPECT_LT(test::rel_err(small.wino.forward(x), small.direct.forward(x)), 1e-5) << h << "x" << wd;
  }
  const Tensor band = randn({2, 3, 9, 8}, 562);
  EXPECT_LT(test::rel_err(small.wino.forward_band(band), small.direct.forward_band(band)), 1e-5) << "1-row band";
}

TEST(Conv2d, WinogradCountsItsOwnMultiplyAdds) {
  if (!kernels::conv3x3_winograd_available()) GTEST_SKIP() << "this CPU has no AVX2 + FMA";
  const ConvPair p(randn({16, 8, 3, 3}, 11), randn({16}, 12));
  const Tensor x = randn({2, 9, 13, 8}, 13), band = randn({2, 7, 13, 8}, 14);
  reset_flop_counter();
  p.direct.forward(x);
  EXPECT_EQ(flops_counted(), direct_flops(2, 9, 13, 8, 16));
  reset_flop_counter();
  p.wino.forward(x);
  EXPECT_EQ(flops_counted(), winograd_flops(2, 9, 13, 8, 16));
  reset_flop_counter();
  p.wino.forward_band(band);
  EXPECT_EQ(flops_counted(), winograd_flops(2, 5, 13, 8, 16));
}

TEST(Conv2d, AutoPicksWinogradOnLargeMaps) {
  if (!kernels::conv3x3_winograd_available()) GTEST_SKIP() << "this CPU has no AVX2 + FMA";
  static_assert(nn::kWinogradMinPixels == 1024, "the sizes below straddle 1024 output pixels");
  const nn::Conv2d conv(randn({16, 8, 3, 3}, 21), randn({16}, 22), 1, 1);
  EXPECT_EQ(conv.implementation(1, 32, 32), kWinograd);  // 1024 px
  EXPECT_EQ(conv.implementation(1, 1024, 1), kWinograd);
  EXPECT_EQ(conv.implementation(3, 40, 60), kWinograd);
  EXPECT_FALSE(is_winograd(conv.implementation(1, 32, 31)));  // 992 px
  EXPECT_FALSE(is_winograd(conv.implementation(2, 31, 33)));  // 1023 px per image, 2046 in all
  EXPECT_FALSE(is_winograd(conv.implementation(1, 8, 8)));

  // What forward and forward_band actually run, told apart by the work they count. A band's
  // output is its rows less the 2 halo rows: 8 x 128 = 1024 px, 7 x 128 = 896.
  struct Run {
    bool band;
    int64_t n, h, w;
    bool winograd;
  };
  for (const Run& r : {Run{false, 1, 32, 32, true}, Run{false, 1, 32, 31, false}, Run{false, 2, 31, 33, false},
                       Run{true, 2, 10, 128, true}, Run{true, 2, 9, 128, false}}) {
    const Tensor x = randn({r.n, r.h, r.w, 8}, static_cast<uint32_t>(r.h * 1000 + r.w));
    const int64_t oh = r.band ? r.h - 2 : r.h;
    reset_flop_counter();
    const Tensor y = r.band ? conv.forward_band(x) : conv.forward(x);
    EXPECT_EQ(flops_counted(), (r.winograd ? winograd_flops : direct_flops)(r.n, oh, r.w, 8, 16))
        << (r.band ? "band " : "map ") << shape_str(x.shape());
    EXPECT_EQ(y.shape(), Shape({r.n, oh, r.w, 16}));
  }
}

TEST(Conv2d, AutoNeverPicksWinogradForOtherLayers) {
  // Eligible would be: 3x3, stride 1, padding 1, channel counts multiples of 8. Each of these
  // misses one, on maps well over the pixel threshold.
  const nn::Conv2d eligible(randn({16, 16, 3, 3}, 33), Tensor(), 1, 1);
  struct Layer {
    const char* what;
    int64_t ci, co, k, s, p, h;
  };
  for (const Layer& l : {Layer{"12 in", 12, 16, 3, 1, 1, 64}, Layer{"12 out", 16, 12, 3, 1, 1, 64},
                         Layer{"stride 2", 16, 16, 3, 2, 1, 96}, Layer{"1x1", 16, 16, 1, 1, 0, 64},
                         Layer{"padding 0", 16, 16, 3, 1, 0, 66}}) {
    const nn::Conv2d conv(randn({l.co, l.ci, l.k, l.k}, 31), randn({l.co}, 32), l.s, l.p);
    EXPECT_FALSE(is_winograd(conv.implementation(1, l.h, l.h))) << l.what;
    EXPECT_FALSE(is_winograd(conv.implementation(2, 2 * l.h, 2 * l.h))) << l.what;
    // An eligible layer takes Winograd on these maps, so they are large enough to tell.
    if (kernels::conv3x3_winograd_available()) EXPECT_TRUE(is_winograd(eligible.implementation(1, l.h, l.h))) << l.what;
  }
}

TEST(Conv2d, ForcedWinogradOnAnIneligibleLayerNamesIt) {
  struct Layer {
    const char* name;
    int64_t ci, co, k, s, p;
  };
  std::vector<Layer> layers = {{"head.odd_channels", 12, 16, 3, 1, 1},
                               {"head.stride2", 16, 16, 3, 2, 1},
                               {"head.one_by_one", 16, 16, 1, 1, 0}};
  // On a CPU without AVX2 + FMA even an eligible layer cannot run it.
  if (!kernels::conv3x3_winograd_available()) layers.push_back({"head.no_avx2", 16, 16, 3, 1, 1});
  for (const Layer& l : layers) {
    const Tensor w = randn({l.co, l.ci, l.k, l.k}, 41), b = randn({l.co}, 42);
    nn::Conv2d conv(w, b, l.s, l.p, l.name);
    conv.set_algorithm(nn::ConvAlgorithm::Winograd);
    const Tensor x = randn({1, 40, 40, l.ci}, 43);
    try {
      conv.forward(x);
      FAIL() << l.name << ": expected da3::Error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(l.name), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("Winograd"), std::string::npos) << e.what();
    }
    EXPECT_THROW(conv.implementation(1, 40, 40), Error) << l.name;
    conv.set_algorithm(nn::ConvAlgorithm::Auto);  // and the layer still works on its own path
    EXPECT_LT(test::rel_err(conv.forward(x), ref_conv(x, w, b, l.s, l.p)), 1e-5) << l.name;
  }
}

TEST(Conv2d, WinogradWeightTransformIsThreadSafe) {
  if (!kernels::conv3x3_winograd_available()) GTEST_SKIP() << "this CPU has no AVX2 + FMA";
  const Tensor w = randn({64, 64, 3, 3}, 51), b = randn({64}, 52);
  const Tensor x = randn({1, 24, 24, 64}, 53);
  nn::Conv2d direct(w, b, 1, 1);
  direct.set_algorithm(nn::ConvAlgorithm::Direct);
  const Tensor want = direct.forward(x);
  // Each round: a fresh layer whose first two Winograd calls (the ones that make its transformed
  // weights) start together on two threads.
  for (int round = 0; round < 32; ++round) {
    nn::Conv2d conv(w, b, 1, 1, "test.threads");
    conv.set_algorithm(nn::ConvAlgorithm::Winograd);
    Tensor got[2];
    std::string error[2];
    std::latch start(2);
    auto call = [&](int i) {
      start.arrive_and_wait();
      try {
        got[i] = conv.forward(x);
      } catch (const std::exception& e) {
        error[i] = e.what();
      }
    };
    std::thread t0(call, 0), t1(call, 1);
    t0.join();
    t1.join();
    for (int i = 0; i < 2; ++i) {
      ASSERT_EQ(error[i], "") << "round " << round << " thread " << i;
      EXPECT_LT(test::rel_err(got[i], want), 1e-5) << "round " << round << " thread " << i;
    }
  }
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
