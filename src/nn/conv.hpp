#pragma once
// nn.Conv2d on NHWC f32 tensors through a oneDNN convolution, or, for 3x3 stride-1 layers on
// large maps, our F(4x4, 3x3) Winograd kernel (a quarter of the multiply-adds; see
// kernels/cpu/conv3x3_winograd.hpp and docs/perf.md). The heads stay in NHWC from the tokens to
// the output (measured here: oneDNN's NHWC kernels beat im2col + GEMM and no layout conversion
// is needed between layers). Weights arrive in PyTorch's OIHW layout and stay there (a view of
// the mapped checkpoint, or the caller's tensor, which must not change afterwards); the blocked
// layout oneDNN wants and the Winograd transform are each made on the first call that needs them.
// Primitives are cached per input shape and epilogue.
#include <memory>
#include <string>

#include "da3/tensor.hpp"

namespace da3::nn {

// What a convolution does after the multiply-add, fused into the same kernel, in this order:
// add the existing contents of `accumulate` (a residual; the result is written there), then ReLU.
// relu_input: the convolution of max(x, 0) instead of x (x unchanged) — read through on the
// Winograd path, a ReLU'd copy of x on the others.
struct ConvEpilogue {
  Tensor* accumulate = nullptr;  // (N, OH, OW, out) contiguous f32
  bool relu = false;
  bool relu_input = false;
};

// How a 3x3 stride-1 convolution is computed. Auto: Winograd where the CPU has AVX2 + FMA, the
// channel counts are multiples of 8 and the output has at least kWinogradMinPixels pixels per
// image; env DA3_CONV_WINOGRAD=0 makes Auto mean Direct everywhere. Winograd wins at every size
// measured (2.2x even on 8x8), but its transformed weights are 4x the originals: below 1024
// pixels the layers take about a millisecond and DA3-SMALL's would cost +9 MB of RSS for ~5 ms
// (bench/conv_winograd.cpp, docs/perf.md).
enum class ConvAlgorithm { Auto, Direct, Winograd };
inline constexpr int64_t kWinogradMinPixels = 1024;
// What Auto does on this machine, in words (for `da3 info`).
std::string conv3x3_auto_description();

class Conv2d {
 public:
  Conv2d() = default;
  // weight: (out, in, kh, kw) as PyTorch stores it; bias: (out,) or undefined. Symmetric
  // `padding`, groups 1, dilation 1 (all that DA3 uses).
  // compute: F32, or BF16 — the input and weights rounded to bf16, the products accumulated and
  // the output (bias, residual, ReLU) written in f32, by oneDNN's bf16 convolution. Meant for CPUs
  // with AMX, where it runs 3–5 TFLOP/s against ~0.6 for our fp32 Winograd (docs/perf.md); a
  // BF16 layer's Auto algorithm is that direct bf16 convolution, never Winograd.
  // storage: F16 keeps the Winograd path's transformed weights (4x the layer's own) in fp16,
  // widened per call — the products stay f32, on weights rounded to fp16 in the Winograd domain
  // (--precision bf16's heads: conv.cpp says why not bf16). The oneDNN path is unaffected.
  Conv2d(const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding, std::string name = "conv2d",
         DType compute = DType::F32, DType storage = DType::F32);

  bool defined() const { return impl_ != nullptr; }
  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  int64_t kernel_size() const { return k_; }
  DType compute_dtype() const { return compute_; }
  DType storage_dtype() const { return storage_; }
  int64_t out_size(int64_t in) const { return (in + 2 * pad_ - k_) / stride_ + 1; }

  // x: (N, H, W, in) f32 NHWC, contiguous. Returns (N, OH, OW, out) (or *ep.accumulate).
  Tensor forward(const Tensor& x, const ConvEpilogue& ep = {}) const;
  // The same convolution over a band of rows with no padding above and below: x holds the band's
  // rows plus k - 1 halo rows (zeros where the band touches the image border), and the result
  // has x.size(1) - k + 1 rows. Stride 1 only. Lets a caller stream a large map through the
  // layer in bands instead of materialising it.
  Tensor forward_band(const Tensor& x, const ConvEpilogue& ep = {}) const;
  // The implementation chosen for an input of this shape (for benchmarks and tests): oneDNN's
  // name for it, or "winograd_f4x3:avx2".
  std::string implementation(int64_t n, int64_t h, int64_t w) const;
  // Overrides Auto for this layer (benchmarks and tests compare the two on the same weights).
  // Winograd on a layer or CPU that cannot run it is an error at the next forward.
  void set_algorithm(ConvAlgorithm a) { algorithm_ = a; }

 private:
  // forward / forward_band after their size checks: out_rows output rows, rows padded or not.
  Tensor run(const Tensor& x, int64_t out_rows, const ConvEpilogue& ep, bool pad_rows) const;
  void check_input(const Tensor& x) const;
  bool use_winograd(int64_t out_h, int64_t out_w) const;

  struct Impl;
  std::shared_ptr<Impl> impl_;
  int64_t in_ = 0, out_ = 0, k_ = 0, stride_ = 1, pad_ = 0;
  ConvAlgorithm algorithm_ = ConvAlgorithm::Auto;
  DType compute_ = DType::F32;
  DType storage_ = DType::F32;
  std::string name_;
};

}  // namespace da3::nn
