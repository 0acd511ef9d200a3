#include "core/finite.hpp"

#include <cstdint>
#include <cstring>

#include "da3/error.hpp"

namespace da3::detail {

bool all_finite(const float* p, size_t n) {
  // On the bits, branch-free: NaN and Inf are the values whose exponent is all ones. The OR
  // reduction vectorises; blocks keep an early exit without a branch per element.
  constexpr size_t kBlock = 4096;
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t e = b + kBlock < n ? b + kBlock : n;
    uint32_t bad = 0;
    for (size_t i = b; i < e; ++i) {
      uint32_t u;
      std::memcpy(&u, p + i, 4);
      bad |= static_cast<uint32_t>((u & 0x7F800000u) == 0x7F800000u);
    }
    if (bad) return false;
  }
  return true;
}

void check_finite(const Tensor& t, const std::string& what, const std::string& remedy) {
  if (!t.defined() || t.numel() == 0) return;
  DA3_CHECK(t.dtype() == DType::F32 && t.device() == Device::CPU, "check_finite: " + what + " must be a CPU f32 tensor");
  const Tensor c = t.contiguous();
  if (!all_finite(c.data_as<float>(), static_cast<size_t>(c.numel())))
    throw Error(what + " holds non-finite values (NaN or Inf); " + remedy);
}

void check_finite_weight(const Tensor& t, const std::string& name) {
  check_finite(t, "checkpoint tensor '" + name + "'", "the checkpoint is corrupt: download or convert it again");
}

}  // namespace da3::detail
