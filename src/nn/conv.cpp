#include "nn/conv.hpp"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "da3/log.hpp"
#include "da3/profile.hpp"

#include "core/host_memory.hpp"
#include "kernels/cpu/conv3x3_winograd.hpp"
#include "nn/dnnl_conv.hpp"
#include "nn/elementwise.hpp"
#include "nn/output_target.hpp"

namespace da3::nn {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

namespace {

bool winograd_allowed_by_env() {
  static const bool allowed = [] {
    const char* e = std::getenv("DA3_CONV_WINOGRAD");
    if (!e || !*e || std::strcmp(e, "1") == 0) return true;
    if (std::strcmp(e, "0") == 0) return false;
    log_once(LogLevel::Warn, "DA3_CONV_WINOGRAD",
             "DA3_CONV_WINOGRAD='" + std::string(e) + "' is neither 0 nor 1; using Winograd where it applies");
    return true;
  }();
  return allowed;
}

}  // namespace

std::string conv3x3_auto_description() {
  if (!kernels::conv3x3_winograd_available()) return "oneDNN direct (no AVX2 + FMA for the Winograd kernel)";
  if (!winograd_allowed_by_env()) return "oneDNN direct (DA3_CONV_WINOGRAD=0)";
  return std::string("Winograd F(4x4, 3x3), ") + kernels::conv3x3_winograd_isa_name(kernels::conv3x3_winograd_best_isa()) +
         " kernel, from " + std::to_string(kWinogradMinPixels) +
         " output pixels (channels multiples of 8); oneDNN direct below";
}

struct Conv2d::Impl {
  std::unique_ptr<detail::DnnlConv> conv;
  bool winograd_shape = false;  // 3x3, stride 1, padding 1, channels the kernel takes
  std::once_flag winograd_once;
  std::vector<float> winograd_u;  // made on first Winograd call
  Tensor winograd_u_half;         // instead, with f16 storage: widened per call
};

Conv2d::Conv2d(const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding, std::string name,
               DType compute, DType storage)
    : stride_(stride), pad_(padding), compute_(compute), storage_(storage), name_(std::move(name)) {
  detail::check_conv_weight(weight, bias, stride, padding, /*out_axis=*/0, name_);
  DA3_CHECK(compute == DType::F32 || compute == DType::BF16,
            name_ + ": compute dtype must be f32 or bf16, got " + dtype_name(compute));
  DA3_CHECK(storage == DType::F32 || storage == DType::F16,
            name_ + ": storage dtype must be f32 or f16, got " + dtype_name(storage));
  out_ = weight.size(0);
  in_ = weight.size(1);
  k_ = weight.size(2);

  const int64_t in = in_, out = out_, k = k_, s = stride_, p = pad_;
  const bool with_bias = bias.defined();
  const dt cdt = compute == DType::BF16 ? dt::bf16 : dt::f32;
  auto make = [in, out, k, s, p, with_bias, cdt](int64_t n, int64_t h, int64_t w, const dnnl::primitive_attr& attr,
                                           bool pad_rows) {
    const int64_t ph = pad_rows ? p : 0;
    const int64_t oh = (h + 2 * ph - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
    // oneDNN wants the right padding that makes the sizes consistent; PyTorch's symmetric
    // padding may leave the last rows unread when (h + 2p - k) is not a multiple of s.
    const dnnl::memory::dims pl{ph, p}, pr{(oh - 1) * s + k - h - ph, (ow - 1) * s + k - w - p};
    dnnl::memory::desc src({n, in, h, w}, cdt, tag::nhwc);
    dnnl::memory::desc wei({out, in, k, k}, cdt, tag::any);
    dnnl::memory::desc dst({n, out, oh, ow}, dt::f32, tag::nhwc);
    const auto prop = dnnl::prop_kind::forward_inference;
    const auto alg = dnnl::algorithm::convolution_direct;
    auto d = with_bias ? dnnl::convolution_forward::desc(
                             prop, alg, src, wei, dnnl::memory::desc({out}, dt::f32, tag::x), dst, {s, s}, pl, pr)
                       : dnnl::convolution_forward::desc(prop, alg, src, wei, dst, {s, s}, pl, pr);
    return dnnl::primitive_desc(dnnl::convolution_forward::primitive_desc(d, attr, cpu_engine()));
  };
  impl_ = std::make_shared<Impl>();
  impl_->conv = std::make_unique<detail::DnnlConv>(
      name_, weight, dnnl::memory::desc({out_, in_, k_, k_}, dt::f32, tag::oihw), bias, make);
  impl_->winograd_shape = k_ == 3 && stride_ == 1 && pad_ == 1 && kernels::conv3x3_winograd_supports(in_, out_);
}

bool Conv2d::use_winograd(int64_t out_h, int64_t out_w) const {
  switch (algorithm_) {
    case ConvAlgorithm::Direct: return false;
    case ConvAlgorithm::Winograd:
      DA3_CHECK(impl_->winograd_shape && kernels::conv3x3_winograd_available(),
                name_ + ": Winograd needs a 3x3 stride-1 padding-1 convolution with channel counts that are "
                        "multiples of 8 on a CPU with AVX2 + FMA");
      return true;
    case ConvAlgorithm::Auto: break;
  }
  return compute_ == DType::F32 && impl_->winograd_shape && out_h * out_w >= kWinogradMinPixels && kernels::conv3x3_winograd_available() &&
         winograd_allowed_by_env();
}

void Conv2d::check_input(const Tensor& x) const {
  DA3_CHECK(impl_, name_ + ": used before its weights were loaded");
  DA3_CHECK(x.dtype() == DType::F32 && x.dim() == 4 && x.size(3) == in_ && x.is_contiguous(),
            name_ + ": input must be contiguous f32 NHWC (N, H, W, " + std::to_string(in_) + "), got " + x.describe());
}

Tensor Conv2d::run(const Tensor& x, int64_t out_rows, const ConvEpilogue& ep, bool pad_rows) const {
  const Shape out_shape{x.size(0), out_rows, out_size(x.size(2)), out_};
  Tensor y = output_or_accumulate_target(ep.accumulate, out_shape, name_);
  // Chosen first: a forced Winograd that cannot run is an error even on an empty input.
  const bool winograd = use_winograd(out_rows, out_shape[2]);
  if (x.numel() == 0) return y;
  if (!winograd) {
    count_flops(static_cast<uint64_t>(2 * y.numel() * in_ * k_ * k_));
    const Tensor src = ep.relu_input ? relu(x) : x;
    if (compute_ == DType::BF16)
      impl_->conv->execute(to_bf16_parallel(src), y, ep, pad_rows);  // rounded per call: a memory pass
    else
      impl_->conv->execute(src, y, ep, pad_rows);
    return y;
  }
  std::call_once(impl_->winograd_once, [this] {
    impl_->conv->build_from_weights([this](const Tensor& oihw) {
      std::vector<float> u = kernels::winograd_f43_weights(oihw.data_as<float>(), out_, in_);
      if (storage_ == DType::F16) {
        // Half the memory of the largest weights a head holds (36/9 of the layer's own): U
        // rounded once to fp16, widened for each call into the tensor arena. Not bf16: its
        // 8-bit mantissa, amplified by the output transform (coefficients up to 8), cost
        // DA3-SMALL 1.5e-2 of depth against PyTorch; fp16's 11 bits keep it within 3e-3.
        const auto mem = da3::detail::allocate_host_lasting(u.size() * sizeof(uint16_t));
        Tensor held = Tensor::from_blob(mem.get(), {static_cast<int64_t>(u.size())}, DType::F16, mem);
        f32_to_f16(u.data(), static_cast<uint16_t*>(held.data()), u.size());
        impl_->winograd_u_half = held;
      } else {
        impl_->winograd_u = std::move(u);
      }
    });
  });
  const Tensor u_wide = impl_->winograd_u_half.defined() ? to_f32_parallel(impl_->winograd_u_half) : Tensor();
  kernels::Conv3x3Problem p;
  p.x = x.data_as<float>();
  p.n = x.size(0), p.h = x.size(1), p.w = x.size(2), p.in = in_;
  p.pad_rows = pad_rows ? 1 : 0;
  p.u = u_wide.defined() ? u_wide.data_as<float>() : impl_->winograd_u.data();
  p.bias = impl_->conv->has_bias() ? impl_->conv->bias().data_as<float>() : nullptr;
  p.out = out_;
  p.y = y.data_as<float>();
  p.accumulate = ep.accumulate != nullptr;
  p.relu = ep.relu;
  p.relu_input = ep.relu_input;
  // The multiply-adds it does (36 per tile and channel pair), not a direct convolution's
  // 144: GFLOP/s and % of peak in bench model stay honest.
  const int64_t tiles = x.size(0) * ((out_rows + 3) / 4) * ((out_shape[2] + 3) / 4);
  count_flops(static_cast<uint64_t>(2 * 36 * tiles * in_ * out_));
  // From the tensor arena: reused across calls without page faults, and bounded like every
  // other freed block by DA3_TENSOR_CACHE_MB.
  Tensor scratch = Tensor::empty({static_cast<int64_t>(kernels::conv3x3_winograd_scratch_floats(p))});
  p.scratch = scratch.data_as<float>();
  kernels::conv3x3_winograd(p);
  return y;
}

Tensor Conv2d::forward(const Tensor& x, const ConvEpilogue& ep) const {
  check_input(x);
  DA3_CHECK(x.size(1) + 2 * pad_ >= k_ && x.size(2) + 2 * pad_ >= k_,
            name_ + ": input " + shape_str(x.shape()) + " is smaller than the kernel");
  return run(x, out_size(x.size(1)), ep, /*pad_rows=*/true);
}

Tensor Conv2d::forward_band(const Tensor& x, const ConvEpilogue& ep) const {
  DA3_CHECK(stride_ == 1, name_ + ": forward_band needs stride 1");
  check_input(x);
  DA3_CHECK(x.size(1) >= k_ && x.size(2) + 2 * pad_ >= k_,
            name_ + ": band " + shape_str(x.shape()) + " has fewer rows than the kernel");
  return run(x, x.size(1) - k_ + 1, ep, /*pad_rows=*/false);
}

std::string Conv2d::implementation(int64_t n, int64_t h, int64_t w) const {
  DA3_CHECK(impl_, name_ + ": used before its weights were loaded");
  if (use_winograd(out_size(h), out_size(w)))
    return std::string("winograd_f4x3:") + kernels::conv3x3_winograd_isa_name(kernels::conv3x3_winograd_best_isa());
  return impl_->conv->implementation(n, h, w);
}

}  // namespace da3::nn
