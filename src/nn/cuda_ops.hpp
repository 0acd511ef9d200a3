#pragma once
// The CUDA bodies of the nn/ ops (nn/*_cuda.cpp, built only with CUDA). Each CPU entry point
// (norm.cpp, activations.cpp, elementwise.cpp, linear.cpp) checks its arguments and, when the
// input lives on the GPU, calls the body here: model code calls the same op on either device.
// Parameters (weights, biases, scales) may be CPU tensors: their device copies are made once
// (core/device_memory.hpp, device_param).
#include <string>

#include "da3/tensor.hpp"
#include "nn/linear.hpp"

namespace da3::nn::cuda_ops {

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& out);
// name: gelu, relu, silu, sigmoid, exp, expp1.
void unary_(Tensor& x, const char* name);
Tensor add(const Tensor& a, const Tensor& b);
Tensor relu(const Tensor& x);
Tensor swiglu(const Tensor& x12);
void add_(Tensor& y, const Tensor& b);  // b broadcast over y's leading dims
// weight (out, in) and bias (out,) as the CPU layer holds them (f32, usually host memory).
Tensor linear(const Tensor& weight, const Tensor& bias, const Tensor& x, const LinearEpilogue& ep,
              const std::string& name);

}  // namespace da3::nn::cuda_ops
