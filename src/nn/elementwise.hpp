#pragma once
// Out-of-place element-wise ops on contiguous f32 tensors of the same shape (the in-place
// activations are in activations.hpp).
#include "da3/tensor.hpp"

namespace da3::nn {

Tensor add(const Tensor& a, const Tensor& b);  // a + b
Tensor relu(const Tensor& x);                  // max(x, 0), leaving x as it is
// x rounded to bf16 (same shape), split over the threads: one pass at memory speed (single-
// threaded it was ~10 % of a bf16 DA3-SMALL forward).
Tensor to_bf16_parallel(const Tensor& x);
// The reverse: a contiguous bf16 or f16 CPU tensor widened to f32 (exact), on all threads.
Tensor to_f32_parallel(const Tensor& x);
// SwiGLU of the fused w12 output (..., 2h) -> (..., h): silu(x[..., :h]) * x[..., h:]
// (the reference's SwiGLUFFNFused between w12 and w3).
Tensor swiglu(const Tensor& x12);
// y += b in place, b broadcast over y's leading dims (b's shape is a suffix of y's, both
// contiguous, same dtype): e.g. the position embedding added to every view's tokens. On the GPU a
// host b is taken as a parameter (uploaded once and kept: core/device_memory.hpp).
void add_(Tensor& y, const Tensor& b);
// The patches of a stride-P, kernel-P convolution as rows: x (N, 3, H, W) contiguous ->
// (N, (H/P)·(W/P), 3·P·P), each row in the conv weight's (c, ky, kx) order, so that the
// convolution is exactly a matmul with the weight viewed as (out, 3·P·P).
Tensor patchify(const Tensor& x, int64_t P);

}  // namespace da3::nn
