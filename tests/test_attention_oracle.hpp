#pragma once
// Test helpers for attention: seeded random tensors and an attention oracle computed in double
// precision straight from the definition, softmax(q·kᵀ·scale + mask)·v. Kept apart from every
// backend (including `manual`) so that a bug shared by the backends cannot hide.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "da3/attention.hpp"
#include "da3/tensor.hpp"

namespace da3::test {

// (B, N, H, D) or (B, H, N, D) shape for the layout.
inline Shape attn_shape(AttentionLayout l, int64_t B, int64_t N, int64_t H, int64_t D) {
  return l == AttentionLayout::BNHD ? Shape{B, N, H, D} : Shape{B, H, N, D};
}

inline Tensor random_tensor(const Shape& shape, uint32_t seed, float stddev = 1.f) {
  Tensor t = Tensor::empty(shape, DType::F32);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, stddev);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

// Flat double copy in (B, H, N, D) order: item_f per element is slow, so read once.
inline std::vector<double> to_bhnd(const Tensor& t, AttentionLayout l) {
  const int64_t B = t.size(0), N = l == AttentionLayout::BNHD ? t.size(1) : t.size(2),
                H = l == AttentionLayout::BNHD ? t.size(2) : t.size(1), D = t.size(3);
  const Tensor f = t.to(DType::F32);  // contiguous f32 copy
  const float* p = f.data_as<float>();
  const int64_t sb = f.stride(0), sn = l == AttentionLayout::BNHD ? f.stride(1) : f.stride(2),
                sh = l == AttentionLayout::BNHD ? f.stride(2) : f.stride(1);
  std::vector<double> out(static_cast<size_t>(B * H * N * D));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t d = 0; d < D; ++d) out[((b * H + h) * N + n) * D + d] = p[b * sb + n * sn + h * sh + d];
  return out;
}

// Mask value for (b, h, i, j) as double; `mask` as AttentionOptions::mask (3-D or 4-D, f32 or bool).
inline double mask_at(const Tensor& mask, int64_t b, int64_t h, int64_t i, int64_t j) {
  if (!mask.defined()) return 0.0;
  const int64_t mb = mask.size(0) == 1 ? 0 : b;
  std::vector<int64_t> idx;
  if (mask.dim() == 4) idx = {mb, mask.size(1) == 1 ? 0 : h, i, j};
  else idx = {mb, i, j};
  const float v = mask.item_f(idx);
  if (mask.dtype() == DType::Bool) return v != 0.f ? 0.0 : -std::numeric_limits<double>::infinity();
  return v;
}

// The oracle, in (B, H, Nq, D) order.
inline std::vector<double> attention_oracle(const std::vector<double>& q, const std::vector<double>& k,
                                            const std::vector<double>& v, int64_t B, int64_t H, int64_t nq,
                                            int64_t nk, int64_t D, double scale, const Tensor& mask = {}) {
  std::vector<double> out(static_cast<size_t>(B * H * nq * D), 0.0), s(static_cast<size_t>(nk));
  // The mask read once into (B, H, Nq, Nk) doubles (item_f per score would dominate the run).
  std::vector<double> dense;
  if (mask.defined()) {
    dense.resize(static_cast<size_t>(B * H * nq * nk));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < nq; ++i)
          for (int64_t j = 0; j < nk; ++j) dense[((b * H + h) * nq + i) * nk + j] = mask_at(mask, b, h, i, j);
  }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const double* qh = &q[(b * H + h) * nq * D];
      const double* kh = &k[(b * H + h) * nk * D];
      const double* vh = &v[(b * H + h) * nk * D];
      for (int64_t i = 0; i < nq; ++i) {
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < nk; ++j) {
          double dot = 0.0;
          for (int64_t d = 0; d < D; ++d) dot += qh[i * D + d] * kh[j * D + d];
          s[j] = dot * scale + (dense.empty() ? 0.0 : dense[((b * H + h) * nq + i) * nk + j]);
          mx = std::max(mx, s[j]);
        }
        double sum = 0.0;
        for (int64_t j = 0; j < nk; ++j) sum += (s[j] = std::exp(s[j] - mx));
        double* o = &out[((b * H + h) * nq + i) * D];
        for (int64_t j = 0; j < nk; ++j)
          for (int64_t d = 0; d < D; ++d) o[d] += s[j] / sum * vh[j * D + d];
      }
    }
  return out;
}

// ||a - b|| / ||b|| (2-norms); NaN anywhere in `a` gives NaN, which fails every comparison.
inline double rel_error(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num) / std::sqrt(den);
}

inline Tensor nan_like(const Shape& shape, DType dtype) {
  return Tensor::full(shape, std::numeric_limits<float>::quiet_NaN(), dtype);
}

}  // namespace da3::test
