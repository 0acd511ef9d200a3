#pragma once
// What the dense heads (DPT, DualDPT) return, shaped and named as the reference's output dict.
#include <functional>
#include <string>

#include "da3/tensor.hpp"

namespace da3::model {

struct HeadOutput {
  // "depth": (B, S, H, W) after the head's activation (exp). DPT with output_dim > 1 keeps
  // the reference's trailing channel axis: (B, S, H, W, output_dim - 1).
  Tensor depth;
  // "depth_conf": (B, S, H, W) after conf_activation (expp1); undefined for output_dim 1.
  Tensor depth_conf;
  // DualDPT's aux head, "ray" (B, S, h, w, 6) (linear) and "ray_conf" (B, S, h, w) (expp1), at
  // the fused pyramid's finest scale, h = 8·(H/14), w = 8·(W/14): not upsampled to the image.
  // Undefined unless requested (the reference computes it always and discards it when a
  // camera decoder gives the pose).
  Tensor ray, ray_conf;
  // DPT with the sky head: "sky" (B, S, H, W) after sky_activation, before any sky handling.
  Tensor sky;
};

// Optional debugging taps for parity work: called with the intermediates the reference
// fixtures record, "resize.<k>" (after projection, pos-embed and resize_layers[k]) and
// "output_conv1" (after the fusion chain and output_conv1, before the upsampling), as NHWC
// (n, h, w, C) tensors for the views [first_view, first_view + n) of the flattened batch.
struct HeadHooks {
  std::function<void(const std::string& name, int64_t first_view, const Tensor& nhwc)> tap;
};

}  // namespace da3::model
