#pragma once
// Mirrors depth_anything_3/model/cam_dec.py (CameraDec): the last tapped camera token -> the
// 9-value pose encoding [T, quat xyzw, fov_h, fov_w].
#include "model/weights.hpp"
#include "nn/linear.hpp"

namespace da3::model {

class CameraDec {
 public:
  CameraDec() = default;
  CameraDec(const Weights& w, int64_t dim_in);

  // feat: (B, S, dim_in) -> (B, S, 9).
  Tensor forward(const Tensor& feat) const;

 private:
  nn::Linear mlp1_, mlp2_, fc_t_, fc_qvec_, fc_fov_;
};

}  // namespace da3::model
