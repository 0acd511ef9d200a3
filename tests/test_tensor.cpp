#include <gtest/gtest.h>

#include <cstdint>

#include "da3/tensor.hpp"

using namespace da3;

namespace {

Tensor iota(const Shape& s) {
  Tensor t = Tensor::empty(s);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(i);
  return t;
}

}  // namespace

TEST(Tensor, EmptyIsAlignedContiguousOwning) {
  Tensor t = Tensor::empty({3, 5, 7});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_TRUE(t.owns_memory());
  EXPECT_EQ(t.strides(), (Shape{35, 7, 1}));
  EXPECT_EQ(t.numel(), 105);
  EXPECT_EQ(t.nbytes(), 420u);
  EXPECT_EQ(t.size(-1), 7);
  EXPECT_THROW(t.size(3), Error);
}

TEST(Tensor, DefaultIsUndefined) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_THROW(t.clone(), Error);
}

TEST(Tensor, PermuteIsAViewWithPermutedStrides) {
  Tensor t = iota({2, 3, 4});
  Tensor p = t.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.data(), t.data());
  EXPECT_FALSE(p.is_contiguous());
  // p[i][j][k] == t[j][k][i]
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t k = 0; k < 3; ++k) EXPECT_EQ(p.item_f({i, j, k}), t.item_f({j, k, i}));
  Tensor c = p.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.data(), t.data());
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t k = 0; k < 3; ++k) EXPECT_EQ(c.item_f({i, j, k}), t.item_f({j, k, i}));
  EXPECT_THROW(t.permute({0, 0, 1}), Error);
  EXPECT_THROW(t.permute({0, 1}), Error);
}

TEST(Tensor, ViewRefusesNonContiguousReshapeCopies) {
  Tensor t = iota({4, 6});
  Tensor v = t.view({2, -1});
  EXPECT_EQ(v.shape(), (Shape{2, 12}));
  EXPECT_EQ(v.data(), t.data());
  Tensor tt = t.transpose(0, 1);
  EXPECT_THROW(tt.view({24}), Error);
  Tensor r = tt.reshape({24});
  EXPECT_NE(r.data(), t.data());
  // Transposed order: r[i*4 + j] == t[j][i]
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 4; ++j) EXPECT_EQ(r.item_f({i * 4 + j}), t.item_f({j, i}));
  EXPECT_THROW(t.view({5, 5}), Error);
  EXPECT_THROW(t.view({-1, -1}), Error);
}

TEST(Tensor, SliceSelectShareStorage) {
  Tensor t = iota({3, 4});
  Tensor s = t.slice(1, 1, 3);
  EXPECT_EQ(s.shape(), (Shape{3, 2}));
  EXPECT_EQ(s.item_f({2, 1}), t.item_f({2, 2}));
  Tensor row = t.select(0, 1);
  EXPECT_EQ(row.shape(), (Shape{4}));
  EXPECT_EQ(row.item_f({3}), 7.f);
  EXPECT_EQ(t.select(0, -1).item_f({0}), 8.f);
  row.fill(-1.f);  // writes through the view
  EXPECT_EQ(t.item_f({1, 0}), -1.f);
  EXPECT_EQ(t.item_f({0, 0}), 0.f);
  EXPECT_THROW(t.slice(0, 2, 4), Error);
  EXPECT_THROW(t.select(1, 4), Error);
}

TEST(Tensor, UnsqueezeSqueeze) {
  Tensor t = iota({2, 3});
  Tensor u = t.unsqueeze(1);
  EXPECT_EQ(u.shape(), (Shape{2, 1, 3}));
  EXPECT_TRUE(u.is_contiguous());
  EXPECT_EQ(u.squeeze(1).shape(), (Shape{2, 3}));
  EXPECT_EQ(t.unsqueeze(-1).shape(), (Shape{2, 3, 1}));
  EXPECT_THROW(t.squeeze(0), Error);
}

TEST(Tensor, FromBlobIsABorrowingView) {
  std::vector<float> buf = {1, 2, 3, 4, 5, 6};
  Tensor t = Tensor::from_blob(buf.data(), {2, 3}, DType::F32);
  EXPECT_FALSE(t.owns_memory());
  EXPECT_EQ(t.item_f({1, 2}), 6.f);
  buf[5] = 9;
  EXPECT_EQ(t.item_f({1, 2}), 9.f);
  EXPECT_THROW(Tensor::from_blob(buf.data(), {2, 3}, DType::F32, nullptr, {1}), Error);
}

TEST(Tensor, DtypeChecksOnAccess) {
  Tensor t = Tensor::zeros({4}, DType::BF16);
  EXPECT_THROW(t.data_as<float>(), Error);
  EXPECT_NO_THROW(t.data_as<uint16_t>());
}

TEST(Tensor, RowStridedCopiesKeepEveryElement) {
  // Slices whose rows are contiguous but not adjacent (copied row by row), both as the source
  // (clone of a token slice) and as the destination (copy into a slice of a larger tensor).
  Tensor t = iota({2, 3, 5, 4});
  Tensor s = t.slice(2, 1, 4);  // (2, 3, 3, 4): rows of 4, skipping one row in five
  Tensor c = s.clone();
  ASSERT_TRUE(c.is_contiguous());
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 4; ++j) EXPECT_EQ(c.item_f({a, b, i, j}), t.item_f({a, b, i + 1, j}));
  Tensor big = Tensor::zeros({2, 3, 5, 6});
  big.slice(3, 1, 5).slice(2, 0, 3).copy_from(s);  // destination rows strided too
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t i = 0; i < 5; ++i)
        for (int64_t j = 0; j < 6; ++j) {
          const bool inside = i < 3 && j >= 1 && j < 5;
          EXPECT_EQ(big.item_f({a, b, i, j}), inside ? t.item_f({a, b, i + 1, j - 1}) : 0.f) << a << b << i << j;
        }
  Tensor sel = t.select(2, 4).clone();  // (2, 3, 4): the last row of each group
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t j = 0; j < 4; ++j) EXPECT_EQ(sel.item_f({a, b, j}), t.item_f({a, b, 4, j}));
}

TEST(Tensor, ConvertingCopyAcrossStrides) {
  Tensor t = iota({3, 5});
  Tensor b = t.transpose(0, 1).to(DType::BF16);  // small integers are exact in bf16
  EXPECT_EQ(b.shape(), (Shape{5, 3}));
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(b.item_f({i, j}), t.item_f({j, i}));
  Tensor back = b.to(DType::F32);
  EXPECT_EQ(back.item_f({4, 2}), 14.f);
  Tensor d = t.to(DType::F64);
  EXPECT_EQ(d.data_as<double>()[14], 14.0);
  Tensor wrong = Tensor::empty({5, 3});
  EXPECT_THROW(wrong.copy_from(t), Error);
}
