#pragma once
// Element-wise activations, in place on contiguous f32 tensors.
#include "da3/tensor.hpp"

namespace da3::nn {

void gelu_(Tensor& x);   // exact (erf) GELU, as nn.GELU()
void relu_(Tensor& x);
void silu_(Tensor& x);
void sigmoid_(Tensor& x);
void exp_(Tensor& x);
void expp1_(Tensor& x);  // exp(x) + 1, the reference's confidence activation

}  // namespace da3::nn
