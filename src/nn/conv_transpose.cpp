#include "nn/conv_transpose.hpp"

#include "core/finite.hpp"
#include "da3/profile.hpp"

#include <algorithm>

#include "nn/dnnl_conv.hpp"
#include "nn/output_target.hpp"
#include "nn/linear.hpp"

namespace da3::nn {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct ConvTranspose2d::Impl {
  // kernel == stride, no padding (the DPT resize layers): every input pixel owns its own k x k
  // output block, so the layer is one GEMM, (N·H·W, in) x (in, k·k·out), followed by placing
  // each row's k·k blocks. Measured here 2-6x faster than oneDNN's deconvolution kernel.
  Linear blocks;
  // Any other geometry: oneDNN's deconvolution.
  std::unique_ptr<detail::DnnlConv> conv;
};

ConvTranspose2d::ConvTranspose2d(const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
                                 std::string name)
    : stride_(stride), pad_(padding), name_(std::move(name)) {
  detail::check_conv_weight(weight, bias, stride, padding, /*out_axis=*/1, name_);
  in_ = weight.size(0);
  out_ = weight.size(1);
  k_ = weight.size(2);
  impl_ = std::make_shared<Impl>();
  if (k_ == stride_ && pad_ == 0) {
    // Linear weight row (ky·k + kx)·out + o holds w[:, o, ky, kx], so a row of the GEMM output
    // is the input pixel's output block in NHWC order; the bias is repeated for every tap.
    const int64_t kk = k_ * k_;
    Tensor lw = Tensor::empty({kk * out_, in_}), lb;
    const Tensor wf = detail::contiguous_f32(weight);
    da3::detail::check_finite_weight(wf, name_ + ".weight");  // read just below to build the GEMM layout
    const float* src = wf.data_as<float>();
    float* dst = lw.data_as<float>();
    for (int64_t i = 0; i < in_; ++i)
      for (int64_t o = 0; o < out_; ++o)
        for (int64_t t = 0; t < kk; ++t) dst[(t * out_ + o) * in_ + i] = src[(i * out_ + o) * kk + t];
    if (bias.defined()) {
      const Tensor bf = bias.to(DType::F32);
      lb = Tensor::empty({kk * out_});
      for (int64_t t = 0; t < kk; ++t)
        std::copy(bf.data_as<float>(), bf.data_as<float>() + out_, lb.data_as<float>() + t * out_);
    }
    impl_->blocks = Linear(lw, lb, name_);
    return;
  }
  // oneDNN's deconvolution weights are logically (out, in, kh, kw); PyTorch stores them as
  // (in, out, kh, kw), which is oneDNN's "iohw" order of the same logical tensor. No flip:
  // both define the transposed convolution as the data gradient of a convolution.

  const int64_t in = in_, out = out_, k = k_, s = stride_, p = pad_;
  const bool with_bias = bias.defined();
  auto make = [in, out, k, s, p, with_bias](int64_t n, int64_t h, int64_t w, const dnnl::primitive_attr& attr,
                                           bool /*pad_rows: convolutions only*/) {
    const int64_t oh = (h - 1) * s - 2 * p + k, ow = (w - 1) * s - 2 * p + k;
    dnnl::memory::desc src({n, in, h, w}, dt::f32, tag::nhwc);
    dnnl::memory::desc wei({out, in, k, k}, dt::f32, tag::any);
    dnnl::memory::desc dst({n, out, oh, ow}, dt::f32, tag::nhwc);
    const auto prop = dnnl::prop_kind::forward_inference;
    const auto alg = dnnl::algorithm::deconvolution_direct;
    auto d = with_bias
                 ? dnnl::deconvolution_forward::desc(prop, alg, src, wei, dnnl::memory::desc({out}, dt::f32, tag::x),
                                                     dst, {s, s}, {p, p}, {p, p})
                 : dnnl::deconvolution_forward::desc(prop, alg, src, wei, dst, {s, s}, {p, p}, {p, p});
    return dnnl::primitive_desc(dnnl::deconvolution_forward::primitive_desc(d, attr, cpu_engine()));
  };
  impl_->conv = std::make_unique<detail::DnnlConv>(
      name_, weight, dnnl::memory::desc({out_, in_, k_, k_}, dt::f32, tag::iohw), bias, make);
}

Tensor ConvTranspose2d::forward(const Tensor& x, const ConvEpilogue& ep) const {
  DA3_CHECK(impl_, name_ + ": used before its weights were loaded");
  DA3_CHECK(x.dtype() == DType::F32 && x.dim() == 4 && x.size(3) == in_ && x.is_contiguous(),
            name_ + ": input must be contiguous f32 NHWC (N, H, W, " + std::to_string(in_) + "), got " + x.describe());
  DA3_CHECK(out_size(x.size(1)) > 0 && out_size(x.size(2)) > 0,
            name_ + ": input " + shape_str(x.shape()) + " gives an empty output");
  const Shape out_shape{x.size(0), out_size(x.size(1)), out_size(x.size(2)), out_};
  Tensor y = output_or_accumulate_target(ep.accumulate, out_shape, name_);
  if (x.numel() == 0) return y;
  if (impl_->conv) {
    count_flops(static_cast<uint64_t>(2 * x.numel() * out_ * k_ * k_));  // every input pixel feeds k·k·out outputs
    impl_->conv->execute(x, y, ep);
    return y;
  }
  // GEMM, then each input pixel's (k, k, out) block to its place in the output, with the epilogue.
  const Tensor rows = impl_->blocks.forward(x);  // (N, H, W, k·k·out)
  const int64_t n = x.size(0), h = x.size(1), w = x.size(2), k = k_, c = out_, ow = w * k;
  const float* r = rows.data_as<float>();
  float* yp = y.data_as<float>();
  const bool acc = ep.accumulate != nullptr, relu = ep.relu;
  #pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t iy = 0; iy < h; ++iy)
      for (int64_t ky = 0; ky < k; ++ky) {
        float* orow = yp + ((b * h + iy) * k + ky) * ow * c;  // output row iy·k + ky
        for (int64_t ix = 0; ix < w; ++ix) {
          const float* blk = r + ((b * h + iy) * w + ix) * k * k * c + ky * k * c;
          float* o = orow + ix * k * c;  // k consecutive output pixels: k·c contiguous floats
          for (int64_t j = 0; j < k * c; ++j) {
            float v = blk[j] + (acc ? o[j] : 0.f);
            o[j] = relu && v < 0.f ? 0.f : v;
          }
        }
      }
  return y;
}

std::string ConvTranspose2d::implementation(int64_t n, int64_t h, int64_t w) const {
  DA3_CHECK(impl_, name_ + ": used before its weights were loaded");
  if (!impl_->conv) return "matmul + block scatter (kernel == stride)";
  return impl_->conv->implementation(n, h, w);
}

}  // namespace da3::nn
