#pragma once
// 3x3, stride-1 convolution on NHWC f32 by Winograd's minimal filtering F(4x4, 3x3) (Lavin &
// Gray 2015): each 4x4 output tile costs 36 multiplies per (in, out) channel pair instead of
// 144, so the multiply-add work is a quarter of a direct convolution's, plus the input and
// output transforms (linear in the channel count, not quadratic). On a CPU without AVX-512,
// where oneDNN has no Winograd kernel, this is the head's largest lever (docs/perf.md).
//
// Numerics: the transforms use the interpolation points 0, ±1, ±2 (coefficients up to 8 in the
// output transform), so rounding error grows ~10x over a direct convolution's; measured in
// tests/test_conv_winograd.cpp against a double-precision direct convolution. A NaN or Inf in one
// input pixel spreads to its whole 4x4 output tile (and its neighbours' overlapping tiles), not
// just the 3x3 neighbourhood a direct convolution would touch.
//
// Layouts. Input x: (n, h, w, in). Output y: (n, oh, w, out) with oh = h + 2 * pad_rows - 2;
// columns are always padded by 1 on each side (same width out as in). Transformed weights u:
// [36][in][out], made once by winograd_f43_weights from PyTorch's (out, in, 3, 3).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace da3::kernels {

struct Conv3x3Problem {
  const float* x = nullptr;
  int64_t n = 0, h = 0, w = 0, in = 0;
  int pad_rows = 1;  // 1: zero rows above and below; 0: x already holds the halo rows (a band)
  const float* u = nullptr;     // winograd_f43_weights(...)
  const float* bias = nullptr;  // (out,) or null
  int64_t out = 0;
  float* y = nullptr;
  bool accumulate = false;  // y += conv(x) (a residual already in y) instead of y = conv(x)
  bool relu = false;        // applied last, after bias and accumulate
  bool relu_input = false;  // conv(max(x, 0)): the input's ReLU applied as it is read
  // Working memory, conv3x3_winograd_scratch_floats(*this) floats, 32-byte aligned; null: the
  // kernel allocates it for the call.
  float* scratch = nullptr;
};

// Floats of scratch one call needs on all OpenMP threads (the transformed input and products
// of one block of tiles per thread).
size_t conv3x3_winograd_scratch_floats(const Conv3x3Problem& p);

// Channel counts the kernel takes: multiples of 8 (one AVX2 vector), as every DA3 head conv is.
bool conv3x3_winograd_supports(int64_t in, int64_t out);
// True when this CPU can run the kernel (AVX2 + FMA).
bool conv3x3_winograd_available();

// The bodies: AVX2 (8-wide GEMM) and AVX-512 (16-wide GEMM, transforms as AVX2). The best one
// this CPU runs is picked once from CPUID.
enum class WinogradIsa : uint8_t { Avx2, Avx512 };
bool conv3x3_winograd_isa_supported(WinogradIsa isa);
WinogradIsa conv3x3_winograd_best_isa();
const char* conv3x3_winograd_isa_name(WinogradIsa isa);  // "avx2", "avx512"

// U = G g Gᵀ for every (out, in) pair, computed in double; oihw: (out, in, 3, 3) contiguous.
std::vector<float> winograd_f43_weights(const float* oihw, int64_t out, int64_t in);

// Runs p on all OpenMP threads with the best body (or `isa`, which must be supported). Needs
// conv3x3_winograd_available() and supported channels.
void conv3x3_winograd(const Conv3x3Problem& p);
void conv3x3_winograd(const Conv3x3Problem& p, WinogradIsa isa);

// The bodies (each its own file, compiled with its ISA's flags); p.scratch must be set.
void conv3x3_winograd_avx2(const Conv3x3Problem& p);
size_t conv3x3_winograd_avx2_scratch_floats(const Conv3x3Problem& p);
void conv3x3_winograd_avx512(const Conv3x3Problem& p);
size_t conv3x3_winograd_avx512_scratch_floats(const Conv3x3Problem& p);

}  // namespace da3::kernels
