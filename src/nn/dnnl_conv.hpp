#pragma once
// The machinery Conv2d and ConvTranspose2d share: a oneDNN forward primitive per (input shape,
// epilogue), with the weights packed into the layout that primitive wants. Packs are made on the
// first call that needs their layout, from the layer's PyTorch-layout weights, which stay where
// they are (usually the mapped checkpoint; its pages are dropped again after packing): a layer
// that never runs (DualDPT's ray branch without use_ray_pose) or runs only on Winograd holds no
// pack at all.
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "nn/conv.hpp"
#include "nn/dnnl_context.hpp"

namespace da3::nn::detail {

// Checks a Conv2d / ConvTranspose2d weight (square k x k kernel; output channels on axis
// `out_axis`: 0 for (out, in, k, k), 1 for (in, out, k, k); F32, F16 or BF16), its bias, stride
// and padding.
void check_conv_weight(const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding, int out_axis,
                       const std::string& name);
// The weight as contiguous f32: the tensor itself when it already is one (no copy of a mapped
// checkpoint), else a converted copy (temporary: made when a layout is built).
Tensor contiguous_f32(const Tensor& weight);

class DnnlConv {
 public:
  // Builds the primitive descriptor for an NHWC input of (n, h, w) with these post-ops.
  // pad_rows false: no zero padding above and below (the caller passes the rows a band of output
  // needs, halo included); only convolutions use it.
  using MakePd = std::function<dnnl::primitive_desc(int64_t n, int64_t h, int64_t w, const dnnl::primitive_attr&,
                                                    bool pad_rows)>;

  // `weights`: the PyTorch layout that `user_desc` describes (oihw, iohw), any float dtype, kept
  // by reference (a view of the mapped checkpoint costs nothing) and read, converted to f32, when
  // a pack is made.
  // `bias`: (out,) f32 or undefined; kept (owned copy).
  DnnlConv(std::string name, const Tensor& weights, const dnnl::memory::desc& user_desc, const Tensor& bias,
           MakePd make);

  // y: preallocated (n, oh, ow, out) NHWC; with ep.accumulate, y is *ep.accumulate.
  void execute(const Tensor& x, Tensor& y, const ConvEpilogue& ep, bool pad_rows = true) const;
  std::string implementation(int64_t n, int64_t h, int64_t w) const;
  bool has_bias() const { return bias_.defined(); }
  const Tensor& bias() const { return bias_; }
  // Hands `build` the PyTorch-layout weights as contiguous f32 (for a layout of its own), then
  // drops the checkpoint pages that were read: what `build` makes is the copy that stays resident.
  void build_from_weights(const std::function<void(const Tensor&)>& build) const;

 private:
  struct Entry {
    dnnl::primitive prim;
    dnnl::memory::desc src, dst, scratchpad;
    const dnnl::memory* weights;  // one of packs_
  };
  using Key = std::tuple<int64_t, int64_t, int64_t, bool, bool, bool>;  // n, h, w, accumulate, relu, pad_rows

  dnnl::primitive_desc make_pd(int64_t n, int64_t h, int64_t w, bool accumulate, bool relu, bool pad_rows) const;
  const dnnl::memory* weights_for(const dnnl::memory::desc& want) const;
  const Entry& entry(int64_t n, int64_t h, int64_t w, bool accumulate, bool relu, bool pad_rows) const;

  std::string name_;
  Tensor weights_;
  dnnl::memory::desc user_desc_;
  Tensor bias_;
  MakePd make_;
  mutable std::mutex mu_;
  mutable std::map<Key, Entry> cache_;
  // Packed weights by layout; heap nodes, so an Entry's pointer stays valid as packs are added.
  mutable std::vector<std::unique_ptr<std::pair<dnnl::memory::desc, dnnl::memory>>> packs_;
};

}  // namespace da3::nn::detail
