#pragma once
// nn.ConvTranspose2d on NHWC f32 tensors through a oneDNN deconvolution (the same layout and
// weight-packing scheme as Conv2d). The DPT heads use it with kernel == stride to upsample
// the coarse token maps by 4 and 2.
#include <memory>
#include <string>

#include "da3/tensor.hpp"
#include "nn/conv.hpp"

namespace da3::nn {

class ConvTranspose2d {
 public:
  ConvTranspose2d() = default;
  // weight: (in, out, kh, kw) as PyTorch stores it; bias: (out,) or undefined. Symmetric
  // `padding`, no output_padding, groups 1, dilation 1.
  ConvTranspose2d(const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
                  std::string name = "conv_transpose2d");

  bool defined() const { return impl_ != nullptr; }
  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  int64_t out_size(int64_t in) const { return (in - 1) * stride_ - 2 * pad_ + k_; }

  // x: (N, H, W, in) f32 NHWC, contiguous. Returns (N, OH, OW, out) (or *ep.accumulate).
  Tensor forward(const Tensor& x, const ConvEpilogue& ep = {}) const;
  std::string implementation(int64_t n, int64_t h, int64_t w) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  int64_t in_ = 0, out_ = 0, k_ = 0, stride_ = 1, pad_ = 0;
  std::string name_;
};

}  // namespace da3::nn
