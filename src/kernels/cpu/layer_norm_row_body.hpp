#pragma once
// The vector LayerNorm row, written once over a traits type `V` (attention_flash_body.hpp's
// pattern) and compiled by layer_norm_row_avx2.cpp / _avx512.cpp with their own -m flags. In an
// anonymous namespace: each ISA's file gets a private copy.
//
// V provides: width (floats per vector); load / store / arithmetic of float vectors; dacc, a pair
// of double accumulators that add_widened / add_sq_dev_widened feed with one vector's worth of
// floats widened to double, and dsum. Tails shorter than a vector run the scalar loop with the
// same arithmetic.
#include <cmath>
#include <cstdint>

namespace da3::kernels {
namespace {

template <class V>
void layer_norm_row_body(const float* x, int64_t n, const float* w, const float* b, float eps, float* y) {
  constexpr int W = V::width;
  const int64_t nv = n / W * W;
  typename V::dacc acc = V::dzero();
  for (int64_t i = 0; i < nv; i += W) acc = V::add_widened(acc, x + i);
  double mean = V::dsum(acc);
  for (int64_t i = nv; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);

  const typename V::dacc dm = V::dset1(mean);
  acc = V::dzero();
  for (int64_t i = 0; i < nv; i += W) acc = V::add_sq_dev_widened(acc, x + i, dm);
  double var = V::dsum(acc);
  for (int64_t i = nv; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(n);

  const float inv = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
  const float m = static_cast<float>(mean);
  const auto vm = V::set1(m), vinv = V::set1(inv);
  for (int64_t i = 0; i < nv; i += W) {
    auto v = V::mul(V::sub(V::load(x + i), vm), vinv);
    if (w) v = V::mul(v, V::load(w + i));
    if (b) v = V::add(v, V::load(b + i));
    V::store(y + i, v);
  }
  for (int64_t i = nv; i < n; ++i) {
    float v = (x[i] - m) * inv;
    if (w) v *= w[i];
    if (b) v += b[i];
    y[i] = v;
  }
}

}  // namespace
}  // namespace da3::kernels
