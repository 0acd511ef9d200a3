#pragma once
// Where a layer writes: a new tensor, or (residual fusion) an existing contiguous f32 tensor of
// the output's shape that the result is accumulated into. Shared by Linear, Conv2d, ConvTranspose2d.
#include <string>

#include "da3/tensor.hpp"

namespace da3::nn {

inline Tensor output_or_accumulate_target(Tensor* accumulate, const Shape& out_shape, const std::string& layer) {
  if (!accumulate) return Tensor::empty(out_shape);
  DA3_CHECK(accumulate->shape() == out_shape && accumulate->is_contiguous() && accumulate->dtype() == DType::F32,
            layer + ": accumulate target must be contiguous f32 " + shape_str(out_shape) + ", got " +
                accumulate->describe());
  return *accumulate;
}

}  // namespace da3::nn
