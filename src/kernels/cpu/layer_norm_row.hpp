#pragma once
// One LayerNorm row, y = (x - mean) / sqrt(var + eps) · w + b, for nn::layer_norm (rows of the
// embedding width) and QK-norm (rows of the head dim). The mean and biased variance are
// accumulated in double, so fp32 rounding of the result is the only error left (within an ulp or
// two of torch's LayerNorm); the normalisation itself is fp32.
//
// layer_norm_row() picks a body from CPUID once: AVX-512, AVX2 or the portable one. The library's
// generic code is compiled for baseline x86-64 (SSE2), where these two passes ran 4 lanes wide:
// LayerNorm and QK-norm were ~2 % of a DA3-SMALL forward (perf, Zen 4).
#include <cstdint>

namespace da3::kernels {

// y may alias x (in place). w and b may be null (no affine part).
using LayerNormRowFn = void (*)(const float* x, int64_t n, const float* w, const float* b, float eps, float* y);

// The body for this CPU (chosen once).
LayerNormRowFn layer_norm_row();

void layer_norm_row_portable(const float* x, int64_t n, const float* w, const float* b, float eps, float* y);
void layer_norm_row_avx2(const float* x, int64_t n, const float* w, const float* b, float eps, float* y);
void layer_norm_row_avx512(const float* x, int64_t n, const float* w, const float* b, float eps, float* y);

}  // namespace da3::kernels
