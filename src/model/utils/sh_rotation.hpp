#pragma once
// Mirrors depth_anything_3/utils/sh_helpers.py rotate_sh: real spherical-harmonic coefficients
// (degrees 0..2, 3DGS order) rotated by a 3x3 rotation, in e3nn's real SH basis, as the
// reference does it through e3nn's Euler angles and Wigner D matrices.
#include <array>

#include "da3/tensor.hpp"

namespace da3::model {

// The matrices rotate_sh applies to degree 1 (3x3) and degree 2 (5x5), row-major; degree 0 is
// left as is.
struct ShRotation {
  std::array<double, 9> d1{};
  std::array<double, 25> d2{};
};

// For a rotation R (3x3 row-major, e.g. a camera-to-world rotation).
ShRotation sh_rotation(const std::array<double, 9>& R);

// One colour channel's n = (degree + 1)^2 coefficients (n in {1, 4, 9}): out = blockdiag(1, D1, D2) · in.
void apply_sh_rotation(const ShRotation& r, const float* in, float* out, int n);

// rotate_sh on tensors: coefficients (M, C, n) f32, rotations (M, 3, 3) f32, one rotation per
// row m for all C channels; returns (M, C, n).
Tensor rotate_sh(const Tensor& coefficients, const Tensor& rotations);

}  // namespace da3::model
