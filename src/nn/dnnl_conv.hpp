#pragma once
// The machinery Conv2d and ConvTranspose2d share: a oneDNN forward primitive per (input shape,
// epilogue), with the weights packed into the layout that primitive wants. Packing happens
// once at construction for a nominal shape; a shape whose kernel wants another layout gets a
// second pack (made from the first), so weights are read from the checkpoint exactly once.
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
// `out_axis`: 0 for (out, in, k, k), 1 for (in, out, k, k)), its bias, stride and padding, and
// returns the weight as contiguous f32: the tensor itself when it already is one (no copy of a
// mapped checkpoint), else a converted copy.
Tensor checked_conv_weight(const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding, int out_axis,
                           const std::string& name);

class DnnlConv {
 public:
  // Builds the primitive descriptor for an NHWC input of (n, h, w) with these post-ops.
  // pad_rows false: no zero padding above and below (the caller passes the rows a band of output
  // needs, halo included); only convolutions use it.
  using MakePd = std::function<dnnl::primitive_desc(int64_t n, int64_t h, int64_t w, const dnnl::primitive_attr&,
                                                    bool pad_rows)>;

  // `user_weights`: the PyTorch-layout weights (a view is fine: it is only read here).
  // `bias`: (out,) f32 or undefined; kept (owned copy). `nominal_hw`: an input size whose
  // kernel choice is typical, used to pick the first packing.
  DnnlConv(std::string name, const dnnl::memory& user_weights, const Tensor& bias, MakePd make, int64_t nominal_hw);

  // y: preallocated (n, oh, ow, out) NHWC; with ep.accumulate, y is *ep.accumulate.
  void execute(const Tensor& x, Tensor& y, const ConvEpilogue& ep, bool pad_rows = true) const;
  std::string implementation(int64_t n, int64_t h, int64_t w) const;
  bool has_bias() const { return bias_.defined(); }
  const Tensor& bias() const { return bias_; }
  // The packed weights reordered back into `user` (e.g. oihw) at `dst`: lets another kernel build
  // its own layout after the checkpoint's pages are gone.
  void unpack_weights(const dnnl::memory::desc& user, void* dst) const;

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
  Tensor bias_;
  MakePd make_;
  mutable std::mutex mu_;
  mutable std::map<Key, Entry> cache_;
  // Packed weights by layout; heap nodes, so an Entry's pointer stays valid as packs are added.
  mutable std::vector<std::unique_ptr<std::pair<dnnl::memory::desc, dnnl::memory>>> packs_;
};

}  // namespace da3::nn::detail
