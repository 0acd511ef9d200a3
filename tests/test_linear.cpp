// nn::Linear in f32 on the CPU: the weights are repacked into oneDNN's blocked layout on the
// first forward (a view of a mapped checkpoint) or at load (an owned, folded copy). Every row
// count and epilogue must then read them right, against plain double loops.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "da3/safetensors.hpp"
#include "nn/linear.hpp"
#include "test_util.hpp"

using namespace da3;

namespace {

using test::randn;


// x·Wᵀ + b in double, once per input; the epilogues are applied to it by `finish`.
std::vector<double> product(const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t m = x.size(0), in = x.size(1), out = w.size(0);
  std::vector<double> y(static_cast<size_t>(m * out));
  for (int64_t r = 0; r < m; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = b.defined() ? b.data_as<float>()[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) s += double(x.data_as<float>()[r * in + i]) * w.data_as<float>()[o * in + i];
      y[r * out + o] = s;
    }
  return y;
}

// act(y) · scale (+ acc) as an (m, out) tensor.
Tensor finish(const std::vector<double>& y, int64_t out, bool gelu, const Tensor& scale, const Tensor& acc) {
  Tensor t = Tensor::empty({static_cast<int64_t>(y.size()) / out, out});
  for (size_t j = 0; j < y.size(); ++j) {
    double s = y[j];
    if (gelu) s = 0.5 * s * (1.0 + std::erf(s / std::sqrt(2.0)));
    if (scale.defined()) s *= scale.data_as<float>()[j % out];
    if (acc.defined()) s += acc.data_as<float>()[j];
    t.data_as<float>()[j] = static_cast<float>(s);
  }
  return t;
}

}  // namespace

// A ViT-S MLP shape at row counts from 1 to a 1-view token count, with each epilogue, on a
// layer reading its weights in place (packed on the first forward) and on one with a folded
// LayerScale (an owned copy, packed at load).
TEST(LinearF32, PackedWeightsAtEveryRowCountAndEpilogue) {
  const Tensor w = randn({1536, 384}, 1), b = randn({1536}, 2), g = randn({1536}, 3);
  const nn::Linear in_place(w, b, "in_place"), folded(w, b, "folded", g);
  for (int64_t m : {1, 7, 64, 973}) {
    const Tensor x = randn({m, 384}, 10 + static_cast<uint32_t>(m));
    const std::vector<double> y = product(x, w, b);
    const std::string rows = std::to_string(m) + " rows";
    EXPECT_LT(test::rel_err(in_place.forward(x), finish(y, 1536, false, Tensor(), Tensor())), 1e-5) << rows;
    EXPECT_LT(test::rel_err(in_place.forward(x, {nn::Activation::Gelu}), finish(y, 1536, true, Tensor(), Tensor())), 1e-5)
        << rows << " + gelu";
    Tensor acc = randn({m, 1536}, 20 + static_cast<uint32_t>(m));
    const Tensor want = finish(y, 1536, false, g, acc);
    folded.forward(x, {.accumulate = &acc});
    EXPECT_LT(test::rel_err(acc, want), 1e-5) << rows << " folded + accumulate";
    EXPECT_LT(test::rel_err(in_place.forward(x, {.scale = &g}), finish(y, 1536, false, g, Tensor())), 1e-5)
        << rows << " + scale";
  }
}

// Weights viewed in a mapped checkpoint: after the first forward has packed them (and dropped
// the file's pages), later forwards, other row counts and a second layer on the same view agree.
TEST(LinearF32, WeightsViewedInAMappedCheckpoint) {
  test::TempDir t;
  const Tensor w = randn({96, 160}, 4), b = randn({96}, 5);
  save_safetensors(t.file("w.safetensors"), {{"w", w}});
  const SafetensorsFile f = SafetensorsFile::open(t.file("w.safetensors"));
  const Tensor view = f.tensor("w");
  const nn::Linear a(view, b, "a"), c(view, b, "c");
  for (int64_t m : {5, 37, 5}) {
    const Tensor x = randn({m, 160}, 30 + static_cast<uint32_t>(m));
    const Tensor want = finish(product(x, w, b), 96, false, Tensor(), Tensor());
    EXPECT_LT(test::rel_err(a.forward(x), want), 1e-5) << m;
    EXPECT_LT(test::rel_err(c.forward(x), want), 1e-5) << m;
  }
}
