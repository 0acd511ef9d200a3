#include "model/reference_view_selector.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace da3::model {

RefViewStrategy parse_ref_view_strategy(const std::string& s) {
  if (s == "first") return RefViewStrategy::First;
  if (s == "middle") return RefViewStrategy::Middle;
  if (s == "saddle_balanced") return RefViewStrategy::SaddleBalanced;
  if (s == "saddle_sim_range") return RefViewStrategy::SaddleSimRange;
  throw Error("unknown reference view strategy '" + s + "'; use one of first, middle, saddle_balanced, saddle_sim_range");
}

const char* ref_view_strategy_name(RefViewStrategy s) {
  switch (s) {
    case RefViewStrategy::First: return "first";
    case RefViewStrategy::Middle: return "middle";
    case RefViewStrategy::SaddleBalanced: return "saddle_balanced";
    case RefViewStrategy::SaddleSimRange: return "saddle_sim_range";
  }
  return "?";
}

std::vector<int64_t> select_reference_view(const Tensor& xin, RefViewStrategy strategy) {
  DA3_CHECK(xin.dim() == 4 && xin.dtype() == DType::F32, "select_reference_view: expects (B, S, N, C) f32");
  const int64_t B = xin.size(0), S = xin.size(1), C = xin.size(3);
  std::vector<int64_t> out(B, 0);
  if (S <= 1 || strategy == RefViewStrategy::First) return out;
  if (strategy == RefViewStrategy::Middle) {
    std::fill(out.begin(), out.end(), S / 2);
    return out;
  }
  const Tensor x = xin.select(2, 0).to(Device::CPU).contiguous();  // cls tokens (B, S, C), read on the host
  const float* p = x.data_as<float>();
  for (int64_t b = 0; b < B; ++b) {
    // img_class_feat = cls / ||cls||
    std::vector<float> feat(S * C), norm(S), var(S);
    for (int64_t s = 0; s < S; ++s) {
      const float* c = p + (b * S + s) * C;
      float ss = 0.f;
      for (int64_t i = 0; i < C; ++i) ss += c[i] * c[i];
      norm[s] = std::sqrt(ss);
      float mean = 0.f;
      for (int64_t i = 0; i < C; ++i) mean += (feat[s * C + i] = c[i] / norm[s]);
      mean /= static_cast<float>(C);
      float v = 0.f;
      for (int64_t i = 0; i < C; ++i) v += (feat[s * C + i] - mean) * (feat[s * C + i] - mean);
      var[s] = v / static_cast<float>(C - 1);  // torch.var is unbiased by default
    }
    // sim without its diagonal (the reference subtracts the identity: self-similarity becomes ~0)
    std::vector<float> sim(S * S);
    for (int64_t i = 0; i < S; ++i)
      for (int64_t j = 0; j < S; ++j) {
        float d = 0.f;
        for (int64_t k = 0; k < C; ++k) d += feat[i * C + k] * feat[j * C + k];
        sim[i * S + j] = d - (i == j ? 1.f : 0.f);
      }
    if (strategy == RefViewStrategy::SaddleSimRange) {
      int64_t best = 0;
      float best_range = -INFINITY;
      for (int64_t i = 0; i < S; ++i) {
        const auto row = sim.begin() + i * S;
        const float range = *std::max_element(row, row + S) - *std::min_element(row, row + S);
        if (range > best_range) best_range = range, best = i;
      }
      out[b] = best;
      continue;
    }
    std::vector<float> score(S);
    for (int64_t i = 0; i < S; ++i) {
      float sum = 0.f;
      for (int64_t j = 0; j < S; ++j) sum += sim[i * S + j];
      score[i] = sum / static_cast<float>(S - 1);
    }
    auto normalize = [&](std::vector<float>& m) {
      const float lo = *std::min_element(m.begin(), m.end()), hi = *std::max_element(m.begin(), m.end());
      for (float& v : m) v = (v - lo) / (hi - lo + 1e-8f);
    };
    normalize(score);
    normalize(norm);
    normalize(var);
    int64_t best = 0;
    float best_balance = INFINITY;
    for (int64_t i = 0; i < S; ++i) {
      const float bal = std::fabs(score[i] - 0.5f) + std::fabs(norm[i] - 0.5f) + std::fabs(var[i] - 0.5f);
      if (bal < best_balance) best_balance = bal, best = i;  // argmin: first minimum wins
    }
    out[b] = best;
  }
  return out;
}

namespace {

// out[b, s] = x[b, src(b, s)] over the view axis of a (B, S, ...) tensor.
template <class Src>
Tensor gather_views(const Tensor& xin, Src src) {
  const int64_t B = xin.size(0), S = xin.size(1);
  Tensor y = Tensor::empty(xin.shape(), xin.dtype(), xin.device());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) {
      Tensor dst = y.select(0, b).select(0, s);
      dst.copy_from(xin.select(0, b).select(0, src(b, s)));
    }
  return y;
}

}  // namespace

Tensor reorder_by_reference(const Tensor& x, const std::vector<int64_t>& b_idx) {
  if (x.size(1) <= 1) return x;
  return gather_views(x, [&](int64_t b, int64_t s) {
    const int64_t r = b_idx[b];
    return s == 0 ? r : (s <= r ? s - 1 : s);
  });
}

Tensor restore_original_order(const Tensor& x, const std::vector<int64_t>& b_idx) {
  if (x.size(1) <= 1) return x;
  return gather_views(x, [&](int64_t b, int64_t s) { return reordered_index(s, b_idx[b]); });
}

}  // namespace da3::model
