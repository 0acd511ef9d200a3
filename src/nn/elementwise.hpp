#pragma once
// Out-of-place element-wise ops on contiguous f32 tensors of the same shape (the in-place
// activations are in activations.hpp).
#include "da3/tensor.hpp"

namespace da3::nn {

Tensor add(const Tensor& a, const Tensor& b);  // a + b
Tensor relu(const Tensor& x);                  // max(x, 0), leaving x as it is
// SwiGLU of the fused w12 output (..., 2h) -> (..., h): silu(x[..., :h]) * x[..., h:]
// (the reference's SwiGLUFFNFused between w12 and w3).
Tensor swiglu(const Tensor& x12);

}  // namespace da3::nn
