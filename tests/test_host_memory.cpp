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

TEST(HostMemory, FreedLargeBlockIsReusedForTheSameSize) {
  if (const char* e = std::getenv("DA3_TENSOR_CACHE_MB"); e && std::atoi(e) < 8)
    GTEST_SKIP() << "DA3_TENSOR_CACHE_MB=" << e << " leaves no room to cache an 8 MB block";
  void* first;
  {
    Tensor a = Tensor::empty({2, 1024, 1024});
    first = a.data();
    a.data_as<float>()[0] = 42.f;
  }
  const uint64_t cached = tensor_cache_bytes();
  EXPECT_GE(cached, uint64_t(8) << 20);
  Tensor b = Tensor::empty({2, 1024, 1024});
  EXPECT_EQ(b.data(), first);  // same size class: served from the cache, no new mapping
  EXPECT_EQ(tensor_cache_bytes(), cached - (uint64_t(8) << 20));
}
