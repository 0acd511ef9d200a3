#include "model/utils/transform.hpp"

#include <algorithm>
#include <cmath>

namespace da3::model {

Tensor affine_inverse(const Tensor& ain) {
  DA3_CHECK(ain.dim() >= 2 && ain.size(-1) == 4 && (ain.size(-2) == 4 || ain.size(-2) == 3) && ain.dtype() == DType::F32,
            "affine_inverse: expects (..., 4, 4) or (..., 3, 4) f32, got " + ain.describe());
  const Tensor a = ain.contiguous();
  Tensor out = Tensor::empty(a.shape());
  const int64_t rows = a.size(-2), n = a.numel() / (rows * 4);
  const float* p = a.data_as<float>();
  float* o = out.data_as<float>();
  for (int64_t m = 0; m < n; ++m) {
    const float* A = p + m * rows * 4;
    float* O = o + m * rows * 4;
    for (int i = 0; i < 3; ++i) {
      float t = 0.f;
      for (int j = 0; j < 3; ++j) {
        O[i * 4 + j] = A[j * 4 + i];
        t += A[j * 4 + i] * A[j * 4 + 3];
      }
      O[i * 4 + 3] = -t;
    }
    if (rows == 4)
      for (int j = 0; j < 4; ++j) O[12 + j] = A[12 + j];  // the bottom row is carried over as is
  }
  return out;
}

// transform.py mat_to_quat: the best-conditioned of four candidate formulas, xyzw, real part >= 0.
void mat_to_quat(const float* m, float q[4]) {
  const float m00 = m[0], m01 = m[1], m02 = m[2], m10 = m[4], m11 = m[5], m12 = m[6], m20 = m[8], m21 = m[9], m22 = m[10];
  float qa[4] = {1.f + m00 + m11 + m22, 1.f + m00 - m11 - m22, 1.f - m00 + m11 - m22, 1.f - m00 - m11 + m22};
  for (float& v : qa) v = v > 0.f ? std::sqrt(v) : 0.f;
  const float cand[4][4] = {{qa[0] * qa[0], m21 - m12, m02 - m20, m10 - m01},
                            {m21 - m12, qa[1] * qa[1], m10 + m01, m02 + m20},
                            {m02 - m20, m10 + m01, qa[2] * qa[2], m12 + m21},
                            {m10 - m01, m20 + m02, m21 + m12, qa[3] * qa[3]}};
  const int best = static_cast<int>(std::max_element(qa, qa + 4) - qa);  // argmax: first maximum
  const float denom = 2.f * std::max(qa[best], 0.1f);
  const float rijk[4] = {cand[best][0] / denom, cand[best][1] / denom, cand[best][2] / denom, cand[best][3] / denom};
  q[0] = rijk[1], q[1] = rijk[2], q[2] = rijk[3], q[3] = rijk[0];
  if (q[3] < 0.f)
    for (int i = 0; i < 4; ++i) q[i] = -q[i];
}

void quat_to_mat(const float q[4], float r[9]) {
  const float i = q[0], j = q[1], k = q[2], w = q[3];
  const float two_s = 2.f / (i * i + j * j + k * k + w * w);
  r[0] = 1 - two_s * (j * j + k * k);
  r[1] = two_s * (i * j - k * w);
  r[2] = two_s * (i * k + j * w);
  r[3] = two_s * (i * j + k * w);
  r[4] = 1 - two_s * (i * i + k * k);
  r[5] = two_s * (j * k - i * w);
  r[6] = two_s * (i * k - j * w);
  r[7] = two_s * (j * k + i * w);
  r[8] = 1 - two_s * (i * i + j * j);
}

Tensor extri_intri_to_pose_encoding(const Tensor& ein, const Tensor& iin, int64_t h, int64_t w) {
  DA3_CHECK(ein.dim() == 4 && ein.size(-1) == 4 && ein.size(-2) >= 3, "pose encoding: extrinsics must be (B, S, 3|4, 4), got " + ein.describe());
  DA3_CHECK(iin.dim() == 4 && iin.size(-1) == 3 && iin.size(-2) == 3 && iin.size(0) == ein.size(0) && iin.size(1) == ein.size(1),
            "pose encoding: intrinsics must be (B, S, 3, 3) matching the extrinsics, got " + iin.describe());
  const Tensor e = ein.contiguous(), in = iin.contiguous();
  const int64_t B = e.size(0), S = e.size(1), er = e.size(2);
  Tensor out = Tensor::empty({B, S, 9});
  const float* ep = e.data_as<float>();
  const float* ip = in.data_as<float>();
  float* o = out.data_as<float>();
  for (int64_t v = 0; v < B * S; ++v) {
    const float* E = ep + v * er * 4;
    const float* K = ip + v * 9;
    float* enc = o + v * 9;
    enc[0] = E[3], enc[1] = E[7], enc[2] = E[11];
    mat_to_quat(E, enc + 3);
    enc[7] = 2.f * std::atan((static_cast<float>(h) / 2.f) / K[4]);
    enc[8] = 2.f * std::atan((static_cast<float>(w) / 2.f) / K[0]);
  }
  return out;
}

void pose_encoding_to_extri_intri(const Tensor& pin, int64_t h, int64_t w, Tensor& extrinsics, Tensor& intrinsics) {
  DA3_CHECK(pin.dim() == 3 && pin.size(2) == 9, "pose_encoding_to_extri_intri: expects (B, S, 9), got " + pin.describe());
  const Tensor p = pin.contiguous();
  const int64_t B = p.size(0), S = p.size(1);
  extrinsics = Tensor::empty({B, S, 3, 4});
  intrinsics = Tensor::zeros({B, S, 3, 3});
  const float* pp = p.data_as<float>();
  float* E = extrinsics.data_as<float>();
  float* K = intrinsics.data_as<float>();
  for (int64_t v = 0; v < B * S; ++v) {
    const float* enc = pp + v * 9;
    float r[9];
    quat_to_mat(enc + 3, r);
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) E[v * 12 + i * 4 + j] = r[i * 3 + j];
      E[v * 12 + i * 4 + 3] = enc[i];
    }
    const float fy = (static_cast<float>(h) / 2.f) / std::max(std::tan(enc[7] / 2.f), 1e-6f);
    const float fx = (static_cast<float>(w) / 2.f) / std::max(std::tan(enc[8] / 2.f), 1e-6f);
    float* k = K + v * 9;
    k[0] = fx, k[4] = fy, k[2] = static_cast<float>(w) / 2.f, k[5] = static_cast<float>(h) / 2.f, k[8] = 1.f;
  }
}

}  // namespace da3::model
