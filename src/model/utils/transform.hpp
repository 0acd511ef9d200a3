#pragma once
// Mirrors depth_anything_3/model/utils/transform.py and utils/geometry.py's affine_inverse:
// the 9-value pose encoding [T(3), quat xyzw(4), fov_h, fov_w] <-> extrinsics / intrinsics.
#include "da3/tensor.hpp"

namespace da3::model {

// (..., 4, 4) or (..., 3, 4) rigid transforms -> their inverse, same shape ([Rᵀ | -RᵀT]).
Tensor affine_inverse(const Tensor& a);
// extrinsics (B, S, 3|4, 4) camera-to-world, intrinsics (B, S, 3, 3) -> (B, S, 9).
Tensor extri_intri_to_pose_encoding(const Tensor& extrinsics, const Tensor& intrinsics, int64_t h, int64_t w);
// (B, S, 9) -> extrinsics (B, S, 3, 4) (camera-to-world, as the encoding holds) and intrinsics (B, S, 3, 3).
void pose_encoding_to_extri_intri(const Tensor& pose_enc, int64_t h, int64_t w, Tensor& extrinsics, Tensor& intrinsics);

}  // namespace da3::model
