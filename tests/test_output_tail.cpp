// The heads' banded output tail against the same layers run one after the other on whole maps:
// band edges (halo rows, the zero padding at the image border, a short last band) must not show.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

#include "da3/checkpoint.hpp"
#include "da3/safetensors.hpp"
#include "model/dpt_blocks.hpp"
#include "model/weights.hpp"
#include "nn/interpolate_nhwc.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

using test::randn;


}  // namespace

TEST(OutputTail, BandedEqualsWholeMapLayers) {
  const int64_t n = 2, h = 13, w = 17, c = 8, h_out = 75, w_out = 47;  // 75 rows: bands of 32, 32, 11
  const Tensor x = randn({n, h, w, c}, 1);
  const nn::Conv2d c3(randn({6, c, 3, 3}, 2), randn({6}, 3), 1, 1, "c3");
  const nn::Conv2d c1(randn({3, 6, 1, 1}, 4), randn({3}, 5), 1, 0, "c1");
  const model::UvPosEmbed pe;

  Tensor whole = nn::interpolate_bilinear_nhwc(x, h_out, w_out, /*align_corners=*/true);
  pe.add_(whole, 518, 840);
  const Tensor expect = c1.forward(c3.forward(whole, {.relu = true}));  // (n, h_out, w_out, 3)

  Tensor got = Tensor::full({n, h_out, w_out, 3}, -1e30f);
  int bands = 0;
  const auto emit = [&](int64_t row0, const Tensor& logits) {
    ++bands;
    ASSERT_EQ(logits.size(0), n);
    ASSERT_EQ(logits.size(2), w_out);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t r = 0; r < logits.size(1); ++r)
        for (int64_t i = 0; i < w_out * 3; ++i)
          got.data_as<float>()[((b * h_out + row0 + r) * w_out) * 3 + i] =
              logits.data_as<float>()[((b * logits.size(1) + r) * w_out) * 3 + i];
  };
  model::run_output_tail(model::RowSource::of(x), h_out, w_out, &pe, 518, 840, {{&c3, &c1, emit}});
  EXPECT_EQ(bands, 3);
  EXPECT_LT(test::rel_err(got, expect), 1e-6);
  float worst = 0.f;  // and pointwise, so one wrong row cannot hide in the norm
  for (int64_t i = 0; i < got.numel(); ++i)
    worst = std::max(worst, std::abs(got.data_as<float>()[i] - expect.data_as<float>()[i]));
  EXPECT_LT(worst, 1e-4f);
}

// The tail reading a map made a few rows at a time gives what it gives on the whole map, and asks
// for no more rows per band than the band's bilinear window reads.
TEST(OutputTail, MadeOnDemandEqualsWholeMapAndAsksForFewRows) {
  const int64_t n = 2, h = 40, w = 9, c = 4, h_out = 75, w_out = 23;
  const Tensor x = randn({n, h, w, c}, 7);
  const nn::Conv2d c3(randn({6, c, 3, 3}, 8), randn({6}, 9), 1, 1, "c3");
  const nn::Conv2d c1(randn({2, 6, 1, 1}, 10), randn({2}, 11), 1, 0, "c1");
  const auto run = [&](const model::RowSource& src) {
    Tensor got = Tensor::full({n, h_out, w_out, 2}, -1e30f);
    const auto emit = [&](int64_t row0, const Tensor& l) {
      for (int64_t b = 0; b < n; ++b)
        std::memcpy(got.data_as<float>() + (b * h_out + row0) * w_out * 2,
                    l.data_as<float>() + b * l.size(1) * w_out * 2, l.size(1) * w_out * 2 * sizeof(float));
    };
    model::run_output_tail(src, h_out, w_out, nullptr, 0, 0, {{&c3, &c1, emit}});
    return got;
  };
  model::RowSource lazy;
  lazy.n = n, lazy.h = h, lazy.w = w, lazy.c = c;
  int64_t most = 0, asked = 0;
  lazy.make = [&](int64_t row0, int64_t rows) {
    EXPECT_GE(row0, 0);
    EXPECT_LE(row0 + rows, h);
    most = std::max(most, rows);
    asked += rows;
    Tensor part = Tensor::empty({n, rows, w, c});
    for (int64_t b = 0; b < n; ++b)
      std::memcpy(part.data_as<float>() + b * rows * w * c, x.data_as<float>() + (b * h + row0) * w * c,
                  rows * w * c * sizeof(float));
    return part;
  };
  const Tensor expect = run(model::RowSource::of(x)), got = run(lazy);
  EXPECT_EQ(test::rel_err(got, expect), 0.0);  // the same arithmetic on the same rows
  // 34 output rows (a band and its halo) read ceil(33 * 39 / 74) + 1 = 19 of the 40 input rows
  EXPECT_LE(most, 19);
  EXPECT_LT(asked, 2 * h);  // neighbouring bands share a row or two, not more
}

TEST(OutputTail, InterpolationFromASlabRefusesRowsItDoesNotHold) {
  const Tensor slab = randn({1, 5, 4, 2}, 12);  // rows 10..14 of a 40-row map
  Tensor band = Tensor::empty({1, 4, 8, 2});
  const auto [first, last] = nn::bilinear_input_rows(40, 80, true, 24, 4);
  EXPECT_GE(first, 10);
  EXPECT_LE(last, 14);
  EXPECT_NO_THROW(nn::interpolate_bilinear_nhwc_rows(slab, 10, 40, 80, 8, true, 24, band));
  EXPECT_THROW(nn::interpolate_bilinear_nhwc_rows(slab, 10, 40, 80, 8, true, 0, band), Error);
  EXPECT_EQ(nn::bilinear_input_rows(40, 80, true, -3, 2), std::make_pair(int64_t{0}, int64_t{-1}));
}

// The last fusion block streamed into output_conv1 in row bands against forward() then the conv on
// whole maps: several views, a height that is not a multiple of the band, both fusion variants.
TEST(OutputTail, FusionIntoConvBandedEqualsWholeMaps) {
  const int64_t f = 8, n = 2, h = 21, w = 11;  // 42 output rows: bands of 32 and 10
  test::TempDir d;
  std::vector<std::pair<std::string, Tensor>> ts;
  uint32_t seed = 10;
  for (const char* unit : {"resConfUnit1", "resConfUnit2"})
    for (const char* conv : {"conv1", "conv2"}) {
      ts.emplace_back(std::string(unit) + "." + conv + ".weight", randn({f, f, 3, 3}, seed++));
      ts.emplace_back(std::string(unit) + "." + conv + ".bias", randn({f}, seed++));
    }
  ts.emplace_back("out_conv.weight", randn({f, f, 1, 1}, seed++));
  ts.emplace_back("out_conv.bias", randn({f}, seed++));
  save_safetensors(d.file("model.safetensors"), ts);
  std::ofstream(d.file("config.json")) << "{}";
  const Checkpoint ckpt = Checkpoint::open(d.path().string());
  const nn::Conv2d next(randn({5, f, 3, 3}, 40), randn({5}, 41), 1, 1, "output_conv1");
  const Tensor x0 = randn({n, h, w, f}, 42), x1 = randn({n, h, w, f}, 43);
  for (bool residual : {true, false}) {
    const model::FeatureFusionBlock block(model::Weights(ckpt), f, residual);
    const Tensor expect = next.forward(block.forward(x0, &x1, std::nullopt));
    const Tensor got = block.forward_into_conv3x3(x0.clone(), &x1, next);
    ASSERT_EQ(got.shape(), expect.shape());
    float worst = 0.f;
    for (int64_t i = 0; i < got.numel(); ++i)
      worst = std::max(worst, std::abs(got.data_as<float>()[i] - expect.data_as<float>()[i]));
    EXPECT_LT(worst, 1e-4f) << (residual ? "with" : "without") << " the residual unit";
    EXPECT_LT(test::rel_err(got, expect), 1e-6);
  }
}
