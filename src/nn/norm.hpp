#pragma once
#include "da3/tensor.hpp"

namespace da3::nn {

// nn.LayerNorm over the last dimension (normalized_shape = (C,)), f32. `out` may alias `x`.
// weight/bias: (C,) f32. Rows may be strided (e.g. one head of a qkv buffer) as long as the
// last dimension is contiguous.
void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out);
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps);

}  // namespace da3::nn
