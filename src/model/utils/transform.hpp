#pragma once
// Mirrors depth_anything_3/model/utils/transform.py and utils/geometry.py's affine_inverse:
// the 9-value pose encoding [T(3), quat xyzw(4), fov_h, fov_w] <-> extrinsics / intrinsics.
#include "da3/tensor.hpp"

namespace da3::model {

// transform.py mat_to_quat: m is a rotation in the top-left of a row-major 3x4 / 4x4 block (row
// stride 4); q = xyzw with w >= 0 (the best-conditioned of four candidate formulas).
void mat_to_quat(const float* m, float q[4]);
// transform.py quat_to_mat: q read as xyzw ("ijkr"), not necessarily unit; r row-major 3x3.
void quat_to_mat(const float q[4], float r[9]);

// (..., 4, 4) or (..., 3, 4) rigid transforms -> their inverse, same shape ([Rᵀ | -RᵀT]).
Tensor affine_inverse(const Tensor& a);
// extrinsics (B, S, 3|4, 4) camera-to-world, intrinsics (B, S, 3, 3) -> (B, S, 9).
Tensor extri_intri_to_pose_encoding(const Tensor& extrinsics, const Tensor& intrinsics, int64_t h, int64_t w);
// (B, S, 9) -> extrinsics (B, S, 3, 4) (camera-to-world, as the encoding holds) and intrinsics (B, S, 3, 3).
void pose_encoding_to_extri_intri(const Tensor& pose_enc, int64_t h, int64_t w, Tensor& extrinsics, Tensor& intrinsics);

}  // namespace da3::model
