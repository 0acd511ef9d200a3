// Weight transform and ISA dispatch for the F(4x4, 3x3) Winograd convolution.
#include "kernels/cpu/conv3x3_winograd.hpp"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "da3/cpu.hpp"
#include "da3/error.hpp"

namespace da3::kernels {

namespace {
// G (6x3): row i evaluates the filter polynomial at the i-th interpolation point (0, 1, -1, 2,
// -2, infinity), with the 1/4, 1/6, 1/24 Lagrange denominators folded in here so that the data
// transforms Bᵀ and Aᵀ have small integer coefficients.
constexpr double kG[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};
}  // namespace

bool conv3x3_winograd_supports(int64_t in, int64_t out) { return in > 0 && out > 0 && in % 8 == 0 && out % 8 == 0; }

bool conv3x3_winograd_available() {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma;
}

std::vector<float> winograd_f43_weights(const float* oihw, int64_t out, int64_t in) {
  std::vector<float> u(static_cast<size_t>(36 * in * out));
  for (int64_t o = 0; o < out; ++o)
    for (int64_t c = 0; c < in; ++c) {
      const float* g = oihw + (o * in + c) * 9;
      double gg[6][3];  // G g
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 3; ++j) gg[i][j] = kG[i][0] * g[j] + kG[i][1] * g[3 + j] + kG[i][2] * g[6 + j];
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j) {
          const double v = gg[i][0] * kG[j][0] + gg[i][1] * kG[j][1] + gg[i][2] * kG[j][2];  // (G g) Gᵀ
          u[static_cast<size_t>(((i * 6 + j) * in + c) * out + o)] = static_cast<float>(v);
        }
    }
  return u;
}

bool conv3x3_winograd_isa_supported(WinogradIsa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case WinogradIsa::Avx2: return f.avx2 && f.fma;
    case WinogradIsa::Avx512: return f.avx2 && f.fma && f.avx512f && f.avx512bw && f.avx512vl;
  }
  return false;
}

// DA3_WINOGRAD_ISA=avx2 keeps the AVX2 body on an AVX-512 machine (benchmarks compare the two
// that way); anything else, or an ISA the CPU lacks, leaves the automatic choice.
WinogradIsa conv3x3_winograd_best_isa() {
  static const WinogradIsa best = [] {
    const char* e = std::getenv("DA3_WINOGRAD_ISA");
    if (e && std::strcmp(e, "avx2") == 0) return WinogradIsa::Avx2;
    return conv3x3_winograd_isa_supported(WinogradIsa::Avx512) ? WinogradIsa::Avx512 : WinogradIsa::Avx2;
  }();
  return best;
}

const char* conv3x3_winograd_isa_name(WinogradIsa isa) { return isa == WinogradIsa::Avx512 ? "avx512" : "avx2"; }

// Both bodies share the geometry and so the scratch size.
size_t conv3x3_winograd_scratch_floats(const Conv3x3Problem& p) { return conv3x3_winograd_avx2_scratch_floats(p); }

void conv3x3_winograd(const Conv3x3Problem& p) { conv3x3_winograd(p, conv3x3_winograd_best_isa()); }

void conv3x3_winograd(const Conv3x3Problem& p, WinogradIsa isa) {
  DA3_CHECK(conv3x3_winograd_isa_supported(isa), std::string("conv3x3_winograd: the ") +
                                                     conv3x3_winograd_isa_name(isa) + " body needs instructions this CPU lacks");
  const auto body = isa == WinogradIsa::Avx512 ? conv3x3_winograd_avx512 : conv3x3_winograd_avx2;
  DA3_CHECK(conv3x3_winograd_available(), "conv3x3_winograd: needs AVX2 and FMA");
  DA3_CHECK(conv3x3_winograd_supports(p.in, p.out), "conv3x3_winograd: channel counts must be multiples of 8, got " +
                                                        std::to_string(p.in) + " -> " + std::to_string(p.out));
  DA3_CHECK(p.pad_rows == 0 || p.pad_rows == 1, "conv3x3_winograd: pad_rows must be 0 or 1");
  DA3_CHECK(p.h + 2 * p.pad_rows >= 3 && p.w >= 1, "conv3x3_winograd: input smaller than the kernel");
  if (p.scratch) return body(p);
  std::unique_ptr<float, decltype(&std::free)> own(
      static_cast<float*>(std::aligned_alloc(64, (conv3x3_winograd_scratch_floats(p) * sizeof(float) + 63) / 64 * 64)),
      &std::free);
  if (!own) throw std::bad_alloc();
  Conv3x3Problem q = p;
  q.scratch = own.get();
  body(q);
}

}  // namespace da3::kernels
