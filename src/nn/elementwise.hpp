#pragma once
// Out-of-place element-wise ops on contiguous f32 tensors of the same shape (the in-place
// activations are in activations.hpp).
#include "da3/tensor.hpp"

namespace da3::nn {

Tensor add(const Tensor& a, const Tensor& b);  // a + b
Tensor relu(const Tensor& x);                  // max(x, 0), leaving x as it is

}  // namespace da3::nn
