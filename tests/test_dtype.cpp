// f32 <-> bf16 / f16 conversions: the vectorised array paths must equal the scalar ones, and
// the scalar ones must round to nearest even, checked against an independent double-based model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "da3/dtype.hpp"

using namespace da3;

namespace {

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Reference: pick the nearer of the two representable neighbours, ties to the even one.
// Both neighbours come from the decoder, so this only assumes decoding is right.
template <class Decode>
uint16_t nearest_even(float x, Decode decode, uint16_t lo_bits) {
  const double dx = x;
  const double lo = decode(lo_bits), hi = decode(static_cast<uint16_t>(lo_bits + 1));
  const double dlo = std::fabs(dx - lo), dhi = std::fabs(hi - dx);
  if (dlo < dhi) return lo_bits;
  if (dhi < dlo) return static_cast<uint16_t>(lo_bits + 1);
  return (lo_bits & 1) ? static_cast<uint16_t>(lo_bits + 1) : lo_bits;
}

std::vector<float> interesting_values() {
  std::vector<float> v = {0.f, -0.f, 1.f, -1.f, 0.1f, 1e-3f, 65504.f, 65519.f, 65520.f, 1e-7f, 6e-8f, 3e-8f,
                          std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max(),
                          from_bits(0x3f808000u),  // exact bf16 tie, even below
                          from_bits(0x3f818000u),  // exact bf16 tie, odd below
                          from_bits(0x3f801000u)};  // exact f16 tie
  std::mt19937 rng(1234);
  for (int i = 0; i < 20000; ++i) v.push_back(from_bits(rng()));  // every exponent, incl. denormals
  std::normal_distribution<float> n(0.f, 3.f);
  for (int i = 0; i < 5000; ++i) v.push_back(n(rng));
  return v;
}

}  // namespace

TEST(DType, Bf16RoundsToNearestEven) {
  for (float x : interesting_values()) {
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(x))));
      continue;
    }
    uint32_t u;
    std::memcpy(&u, &x, 4);
    const uint16_t got = f32_to_bf16(x);
    if (std::isinf(x) || (u & 0xffffu) == 0) {
      EXPECT_EQ(got, u >> 16) << x;  // exactly representable
      continue;
    }
    // Magnitude truncation is the neighbour toward zero; step away from zero from there.
    const uint16_t trunc = static_cast<uint16_t>(u >> 16);
    // The pattern after the largest finite bf16 stands for 2^128, where RNE overflows to inf.
    const auto decode = [](uint16_t b) { return b == 0x7f80u ? std::ldexp(1.0, 128) : static_cast<double>(bf16_to_f32(b)); };
    const uint16_t want = nearest_even(std::fabs(x), decode,
                                       static_cast<uint16_t>(trunc & 0x7fffu));
    EXPECT_EQ(got & 0x7fffu, want) << "x=" << x;
    EXPECT_EQ(got & 0x8000u, trunc & 0x8000u);
  }
}

TEST(DType, F16RoundsToNearestEvenIncludingSubnormalsAndOverflow) {
  for (float x : interesting_values()) {
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(x))));
      continue;
    }
    const uint16_t got = f32_to_f16(x);
    const float ax = std::fabs(x);
    if (ax >= 65520.f) {  // rounds past the largest finite half
      EXPECT_EQ(got & 0x7fffu, 0x7c00u) << x;
      continue;
    }
    // Find the half just below |x| by scanning the ordered positive halves.
    uint16_t lo = 0;
    for (uint16_t step = 0x4000; step; step >>= 1)
      if (lo + step < 0x7c00 && f16_to_f32(static_cast<uint16_t>(lo + step)) <= ax) lo = static_cast<uint16_t>(lo + step);
    uint16_t want = lo;
    if (static_cast<double>(f16_to_f32(lo)) != static_cast<double>(ax))
      want = nearest_even(ax, [](uint16_t b) { return static_cast<double>(f16_to_f32(b)); }, lo);
    EXPECT_EQ(got & 0x7fffu, want) << "x=" << x;
    EXPECT_EQ((got & 0x8000u) != 0, std::signbit(x)) << x;
  }
}

TEST(DType, HalfDecodeRoundTripsEveryPattern) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float f = f16_to_f32(static_cast<uint16_t>(b));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_f16(f), b) << std::hex << b;
    const float g = bf16_to_f32(static_cast<uint16_t>(b));
    if (!std::isnan(g)) EXPECT_EQ(f32_to_bf16(g), b) << std::hex << b;
  }
}

TEST(DType, ArrayConversionsMatchScalar) {
  std::vector<float> v = interesting_values();
  const size_t n = v.size() - 3;  // odd length exercises the scalar tail
  std::vector<uint16_t> b(n), h(n);
  f32_to_bf16(v.data(), b.data(), n);
  f32_to_f16(v.data(), h.data(), n);
  std::vector<float> bb(n), hh(n);
  bf16_to_f32(b.data(), bb.data(), n);
  f16_to_f32(h.data(), hh.data(), n);
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(v[i])) {
      EXPECT_TRUE(std::isnan(bb[i]));
      EXPECT_TRUE(std::isnan(hh[i]));
      continue;
    }
    ASSERT_EQ(b[i], f32_to_bf16(v[i])) << i << " " << v[i];
    ASSERT_EQ(h[i], f32_to_f16(v[i])) << i << " " << v[i];
    uint32_t x, y;
    const float sb = bf16_to_f32(b[i]), sh = f16_to_f32(h[i]);
    std::memcpy(&x, &bb[i], 4);
    std::memcpy(&y, &sb, 4);
    ASSERT_EQ(x, y);
    std::memcpy(&x, &hh[i], 4);
    std::memcpy(&y, &sh, 4);
    ASSERT_EQ(x, y);
  }
}
