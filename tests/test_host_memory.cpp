// Tensor storage: alignment, the live/peak byte counters bench model reports, and the reuse of
// large freed blocks that keeps repeated forward passes from faulting in fresh pages.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>

#include "da3/profile.hpp"
#include "da3/tensor.hpp"

using namespace da3;

TEST(HostMemory, SmallAndLargeTensorsAreAlignedAndCounted) {
  const uint64_t before = tensor_bytes_live();
  {
    Tensor small = Tensor::empty({7});
    Tensor large = Tensor::empty({3, 1000, 1000});  // 12 MB: mapped, not malloc'ed
    EXPECT_EQ(reinterpret_cast<uintptr_t>(small.data()) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(large.data()) % 64, 0u);
    EXPECT_GE(tensor_bytes_live() - before, uint64_t(12000000 + 28));
    EXPECT_GE(tensor_bytes_peak(), tensor_bytes_live());
    large.data_as<float>()[large.numel() - 1] = 1.f;  // the whole block is writable
  }
  EXPECT_EQ(tensor_bytes_live(), before);
}

// What a process holds for large tensors: the live ones plus freed ranges kept faulted in.
static uint64_t footprint() { return tensor_bytes_live() + tensor_cache_bytes(); }

TEST(HostMemory, FreedLargeRangeServesSmallerRequestsWithoutGrowing) {
  if (const char* e = std::getenv("DA3_TENSOR_CACHE_MB"); e && std::atoi(e) < 16)
    GTEST_SKIP() << "DA3_TENSOR_CACHE_MB=" << e << " leaves no room to keep an 8 MB range";
  { Tensor a = Tensor::empty({2, 1024, 1024}); a.data_as<float>()[a.numel() - 1] = 1.f; }
  EXPECT_GE(tensor_cache_bytes(), uint64_t(8) << 20);  // freed, kept for reuse
  const uint64_t before = footprint();
  {
    // Two halves of the freed 8 MB: a by-size cache would map 8 MB more here.
    Tensor b = Tensor::empty({1024, 1024});
    Tensor c = Tensor::empty({1024, 1024});
    EXPECT_NE(b.data(), c.data());
    EXPECT_LE(footprint(), before);
  }
  EXPECT_LE(footprint(), before);
}

TEST(HostMemory, RepeatedAllocationPatternReusesTheSameMemory) {
  if (const char* e = std::getenv("DA3_TENSOR_CACHE_MB"); e && std::atoi(e) < 64)
    GTEST_SKIP() << "DA3_TENSOR_CACHE_MB=" << e << " is below this pattern's 30 MB";
  // A forward-pass-like sequence: sizes that differ, freed out of order.
  const auto pass = [] {
    Tensor a = Tensor::empty({3, 1000, 1000});
    Tensor b = Tensor::empty({5, 1000, 1000});
    a = Tensor();
    Tensor c = Tensor::empty({2, 1000, 1000});
    Tensor d = Tensor::empty({1, 1500, 1000});
    b = Tensor();
    Tensor e = Tensor::empty({6, 1000, 1000});
    e.data_as<float>()[e.numel() - 1] = 1.f;
  };
  pass();
  const uint64_t after_first = footprint();
  for (int i = 0; i < 3; ++i) pass();
  EXPECT_EQ(footprint(), after_first);
}
