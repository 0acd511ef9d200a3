// RoPE-2D, its position ids, and the QK LayerNorm, against direct transcriptions of the
// reference (dinov2/layers/rope.py, vision_transformer.py _prepare_rope, nn.LayerNorm) in double
// precision. No fixture holds these intermediates, so the transcription is the reference here.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "da3/attention.hpp"
#include "test_attention_oracle.hpp"

namespace da3 {
namespace {

using test::random_tensor;

// rope.py, step by step in double: F = D/2 per axis, inv_freq = 1/base^(arange(0, F, 2)/F),
// angles = pos * inv_freq duplicated (cat(angles, angles)), out = t*cos + rotate_half(t)*sin with
// rotate_half(t) = cat(-t[F/2:], t[:F/2]); first half of D uses y = pos[..., 0], second x.
std::vector<double> rope_reference(const std::vector<double>& x_bhnd, int64_t B, int64_t H, int64_t N, int64_t D,
                                   const std::vector<int64_t>& pos_bn2, double base) {
  std::vector<double> out(x_bhnd.size());
  const int64_t F = D / 2;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t n = 0; n < N; ++n) {
        const double* t = &x_bhnd[((b * H + h) * N + n) * D];
        double* o = &out[((b * H + h) * N + n) * D];
        for (int64_t half = 0; half < 2; ++half) {
          const double p = double(pos_bn2[(b * N + n) * 2 + half]);
          const double* th = t + half * F;
          double* oh = o + half * F;
          for (int64_t j = 0; j < F; ++j) {
            const int64_t i = j % (F / 2);  // cat(angles, angles)
            const double inv_freq = 1.0 / std::pow(base, double(2 * i) / double(F));
            const double ang = p * inv_freq;
            const double rot = j < F / 2 ? -th[j + F / 2] : th[j - F / 2];
            oh[j] = th[j] * std::cos(ang) + rot * std::sin(ang);
          }
        }
      }
  return out;
}

TEST(Rope, PositionsMatchReferencePrepareRope) {
  // 2x3 grid with one special token (cls / camera): pos = (0,0) then (y+1, x+1).
  const Tensor pos = rope_positions(2, 3, 1, false);
  const std::vector<int64_t> want{0, 0, 1, 1, 1, 2, 1, 3, 2, 1, 2, 2, 2, 3};
  ASSERT_EQ(pos.shape(), (Shape{7, 2}));
  EXPECT_EQ(std::vector<int64_t>(pos.data_as<int64_t>(), pos.data_as<int64_t>() + 14), want);
  // pos_nodiff: (0,0) for special tokens, (1,1) for every patch.
  const Tensor nd = rope_positions(2, 3, 1, true);
  const std::vector<int64_t> want_nd{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_EQ(std::vector<int64_t>(nd.data_as<int64_t>(), nd.data_as<int64_t>() + 14), want_nd);
  // Without special tokens there is no shift, and pos_nodiff is all zeros.
  const Tensor plain = rope_positions(2, 2, 0, false);
  const std::vector<int64_t> want_plain{0, 0, 0, 1, 1, 0, 1, 1};
  EXPECT_EQ(std::vector<int64_t>(plain.data_as<int64_t>(), plain.data_as<int64_t>() + 8), want_plain);
  const Tensor plain_nd = rope_positions(2, 2, 0, true);
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(plain_nd.data_as<int64_t>()[i], 0);
}

TEST(Rope, MatchesReferenceTranscriptionBothLayouts) {
  const int64_t B = 2, H = 3, gh = 5, gw = 7, N = 1 + gh * gw;
  for (int64_t D : {32, 64, 128})
    for (AttentionLayout layout : {AttentionLayout::BNHD, AttentionLayout::BHND}) {
      Tensor x = random_tensor(test::attn_shape(layout, B, N, H, D), uint32_t(D));
      const auto before = test::to_bhnd(x, layout);
      const Tensor pos = rope_positions(gh, gw, 1);
      std::vector<int64_t> pos_bn2;
      for (int64_t b = 0; b < B; ++b)
        pos_bn2.insert(pos_bn2.end(), pos.data_as<int64_t>(), pos.data_as<int64_t>() + N * 2);
      rope_2d_inplace(x, pos, layout);
      const auto ref = rope_reference(before, B, H, N, D, pos_bn2, 100.0);
      EXPECT_LT(test::rel_error(test::to_bhnd(x, layout), ref), 1e-6) << "D=" << D;
      // And it did something: the input is far from the output.
      EXPECT_GT(test::rel_error(before, ref), 0.1);
    }
}

TEST(Rope, PerBatchPositionsAndViewsAndLargePositions) {
  // (B, N, 2) positions differing per batch item, x a view on a qkv buffer, positions up to 100
  // (a 1400 px side), int32 ids.
  const int64_t B = 2, N = 40, H = 2, D = 64;
  Tensor qkv = random_tensor({B, N, 3, H, D}, 5);
  Tensor k = qkv.select(2, 1);
  const auto before = test::to_bhnd(k, AttentionLayout::BNHD);
  Tensor pos = Tensor::empty({B, N, 2}, DType::I32);
  std::vector<int64_t> pos_bn2(B * N * 2);
  for (int64_t i = 0; i < B * N * 2; ++i) pos.data_as<int32_t>()[i] = int32_t(pos_bn2[i] = (i * 37) % 101);
  rope_2d_inplace(k, pos, AttentionLayout::BNHD);
  const auto ref = rope_reference(before, B, H, N, D, pos_bn2, 100.0);
  EXPECT_LT(test::rel_error(test::to_bhnd(k, AttentionLayout::BNHD), ref), 1e-6);
  // q and v parts of the buffer are untouched.
  const Tensor fresh = random_tensor({B, N, 3, H, D}, 5);
  EXPECT_EQ(test::rel_error(test::to_bhnd(qkv.select(2, 0), AttentionLayout::BNHD),
                            test::to_bhnd(fresh.select(2, 0), AttentionLayout::BNHD)), 0.0);
}

TEST(Rope, Bf16InputIsCloseToReference) {
  const int64_t B = 1, H = 2, N = 17, D = 64;
  Tensor x = random_tensor({B, N, H, D}, 9).to(DType::BF16);
  const auto before = test::to_bhnd(x, AttentionLayout::BNHD);
  const Tensor pos = rope_positions(4, 4, 1);
  std::vector<int64_t> pos_bn2(pos.data_as<int64_t>(), pos.data_as<int64_t>() + N * 2);
  rope_2d_inplace(x, pos, AttentionLayout::BNHD);
  EXPECT_LT(test::rel_error(test::to_bhnd(x, AttentionLayout::BNHD), rope_reference(before, B, H, N, D, pos_bn2, 100.0)),
            1e-2);
}

TEST(Rope, RejectsBadShapes) {
  Tensor x = random_tensor({1, 5, 2, 30}, 1);  // D not a multiple of 4
  EXPECT_THROW(rope_2d_inplace(x, rope_positions(2, 2, 1), AttentionLayout::BNHD), Error);
  Tensor y = random_tensor({1, 5, 2, 32}, 1);
  EXPECT_THROW(rope_2d_inplace(y, rope_positions(2, 3, 1), AttentionLayout::BNHD), Error);  // N = 7, not 5
}

TEST(QkNorm, MatchesLayerNormInDouble) {
  const int64_t B = 2, N = 9, H = 3, D = 64;
  Tensor qkv = random_tensor({B, N, 3, H, D}, 11, 3.f);
  Tensor q = qkv.select(2, 0);
  const Tensor w = random_tensor({D}, 12), b = random_tensor({D}, 13);
  const auto before = test::to_bhnd(q, AttentionLayout::BNHD);
  qk_layer_norm_inplace(q, w, b, 1e-5f);
  std::vector<double> ref(before.size());
  for (size_t r = 0; r < before.size() / D; ++r) {
    const double* t = &before[r * D];
    double mean = 0, var = 0;
    for (int64_t d = 0; d < D; ++d) mean += t[d] / D;
    for (int64_t d = 0; d < D; ++d) var += (t[d] - mean) * (t[d] - mean) / D;
    for (int64_t d = 0; d < D; ++d)
      ref[r * D + d] = (t[d] - mean) / std::sqrt(var + 1e-5) * w.data_as<float>()[d] + b.data_as<float>()[d];
  }
  EXPECT_LT(test::rel_error(test::to_bhnd(q, AttentionLayout::BNHD), ref), 1e-6);
}

// The whole pre-attention path as the reference's Attention.forward runs it (q_norm / k_norm,
// then RoPE on q and k, then attention), against the same steps in double.
TEST(QkNormRopeAttention, EveryBackendMatchesDoubleReference) {
  const int64_t B = 1, gh = 6, gw = 5, N = 1 + gh * gw, H = 2, D = 64;
  const Tensor qkv0 = random_tensor({B, N, 3, H, D}, 21);
  const Tensor qw = random_tensor({D}, 22), qb = random_tensor({D}, 23), kw = random_tensor({D}, 24),
               kb = random_tensor({D}, 25);
  const Tensor pos = rope_positions(gh, gw, 1);
  std::vector<int64_t> pos_bn2(pos.data_as<int64_t>(), pos.data_as<int64_t>() + N * 2);

  auto ln = [&](std::vector<double> x, const Tensor& w, const Tensor& b) {
    for (size_t r = 0; r < x.size() / D; ++r) {
      double* t = &x[r * D];
      double mean = 0, var = 0;
      for (int64_t d = 0; d < D; ++d) mean += t[d] / D;
      for (int64_t d = 0; d < D; ++d) var += (t[d] - mean) * (t[d] - mean) / D;
      for (int64_t d = 0; d < D; ++d)
        t[d] = (t[d] - mean) / std::sqrt(var + 1e-5) * w.data_as<float>()[d] + b.data_as<float>()[d];
    }
    return x;
  };
  const auto qd = rope_reference(ln(test::to_bhnd(qkv0.select(2, 0), AttentionLayout::BNHD), qw, qb), B, H, N, D, pos_bn2, 100);
  const auto kd = rope_reference(ln(test::to_bhnd(qkv0.select(2, 1), AttentionLayout::BNHD), kw, kb), B, H, N, D, pos_bn2, 100);
  const auto vd = test::to_bhnd(qkv0.select(2, 2), AttentionLayout::BNHD);
  const auto ref = test::attention_oracle(qd, kd, vd, B, H, N, N, D, 0.125);

  for (AttentionBackend be : {AttentionBackend::FlashAttn, AttentionBackend::Sdpa, AttentionBackend::Manual}) {
    Tensor qkv = qkv0.clone();
    Tensor q = qkv.select(2, 0), k = qkv.select(2, 1), v = qkv.select(2, 2);
    qk_layer_norm_inplace(q, qw, qb);
    qk_layer_norm_inplace(k, kw, kb);
    rope_2d_inplace(q, pos, AttentionLayout::BNHD);
    rope_2d_inplace(k, pos, AttentionLayout::BNHD);
    AttentionOptions opts;
    opts.backend = be;
    const Tensor out = attention(q, k, v, opts);
    EXPECT_LT(test::rel_error(test::to_bhnd(out, AttentionLayout::BNHD), ref), 1e-5) << attention_backend_name(be);
  }
}

}  // namespace
}  // namespace da3
