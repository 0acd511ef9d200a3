#include "model/utils/sh_rotation.hpp"

#include <algorithm>
#include <cmath>

#include "da3/error.hpp"

namespace da3::model {

namespace {

using M3 = std::array<double, 9>;

M3 mul(const M3& a, const M3& b) {
  M3 c{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) c[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
  return c;
}
M3 transpose(const M3& a) {
  M3 t{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) t[i * 3 + j] = a[j * 3 + i];
  return t;
}
// e3nn's matrix_x / matrix_y: rotations about the X and Y axes.
M3 matrix_x(double a) { return {1, 0, 0, 0, std::cos(a), -std::sin(a), 0, std::sin(a), std::cos(a)}; }
M3 matrix_y(double a) { return {std::cos(a), 0, std::sin(a), 0, 1, 0, -std::sin(a), 0, std::cos(a)}; }

// e3nn's real l = 2 harmonics (x, y, z order, up to one common factor) are quadratic forms
// vᵀ A_i v of symmetric traceless matrices: sqrt3·xz, sqrt3·xy, y² - (x² + z²)/2, sqrt3·yz,
// sqrt3/2·(z² - x²). They are orthogonal under the Frobenius product, each of squared norm 3/2.
constexpr double kS = 0.86602540378443864676;  // sqrt(3) / 2
const std::array<M3, 5> kQuadratic = {{
    {0, 0, kS, 0, 0, 0, kS, 0, 0},
    {0, kS, 0, kS, 0, 0, 0, 0, 0},
    {-0.5, 0, 0, 0, 1, 0, 0, 0, -0.5},
    {0, 0, 0, 0, 0, kS, 0, kS, 0},
    {-kS, 0, 0, 0, 0, 0, 0, 0, kS},
}};

}  // namespace

ShRotation sh_rotation(const std::array<double, 9>& R) {
  // "switch axes: yzx -> xyz": 3DGS orders the degree-1 coefficients (y, z, x); P maps them to
  // e3nn's (x, y, z), and Rp = P⁻¹ R P is the rotation in that basis (P⁻¹ = Pᵀ).
  const M3 P = {0, 0, 1, 1, 0, 0, 0, 1, 0};
  const M3 Rp = mul(mul(transpose(P), R), P);
  // (The reference first projects Rp onto SO(3) by an SVD, for e3nn's det == 1 assertion; a
  // rotation given to float precision is unchanged by it to that precision.)
  // e3nn matrix_to_angles: Rp = Ry(alpha) Rx(beta) Ry(gamma), from the image of the y axis.
  double y[3] = {Rp[1], Rp[4], Rp[7]};
  const double norm = std::max(std::sqrt(y[0] * y[0] + y[1] * y[1] + y[2] * y[2]), 1e-12);
  for (double& v : y) v = std::clamp(v / norm, -1.0, 1.0);
  const double beta = std::acos(y[1]);
  const double alpha = std::atan2(y[0], y[2]);
  const M3 rest = mul(transpose(mul(matrix_y(alpha), matrix_x(beta))), Rp);
  const double gamma = std::atan2(rest[2], rest[0]);
  // The reference evaluates wigner_D(l, alpha, -beta, gamma), i.e. the representation of
  // M = Ry(alpha) Rx(-beta) Ry(gamma), not of Rp itself (the sign follows the 3DGS recipe it
  // cites); we do the same so the coefficients match.
  const M3 M = mul(mul(matrix_y(alpha), matrix_x(-beta)), matrix_y(gamma));
  ShRotation out;
  // Degree 1: e3nn's l = 1 harmonics are (x, y, z) themselves, so D1(M) = M.
  out.d1 = M;
  // Degree 2: Y_i(M v) = vᵀ (Mᵀ A_i M) v = Σ_j D_ij Y_j(v), so D_ij = <Mᵀ A_i M, A_j> / (3/2).
  const M3 Mt = transpose(M);
  for (int i = 0; i < 5; ++i) {
    const M3 rotated = mul(mul(Mt, kQuadratic[i]), M);
    for (int j = 0; j < 5; ++j) {
      double dot = 0;
      for (int k = 0; k < 9; ++k) dot += rotated[k] * kQuadratic[j][k];
      out.d2[i * 5 + j] = dot / 1.5;
    }
  }
  return out;
}

void apply_sh_rotation(const ShRotation& r, const float* in, float* out, int n) {
  out[0] = in[0];
  if (n >= 4)
    for (int i = 0; i < 3; ++i) {
      double s = 0;
      for (int j = 0; j < 3; ++j) s += r.d1[i * 3 + j] * in[1 + j];
      out[1 + i] = static_cast<float>(s);
    }
  if (n >= 9)
    for (int i = 0; i < 5; ++i) {
      double s = 0;
      for (int j = 0; j < 5; ++j) s += r.d2[i * 5 + j] * in[4 + j];
      out[4 + i] = static_cast<float>(s);
    }
}

Tensor rotate_sh(const Tensor& coefficients, const Tensor& rotations) {
  DA3_CHECK(coefficients.dim() == 3 && coefficients.dtype() == DType::F32 &&
                (coefficients.size(2) == 1 || coefficients.size(2) == 4 || coefficients.size(2) == 9),
            "rotate_sh: coefficients must be (M, C, 1|4|9) f32, got " + coefficients.describe());
  DA3_CHECK(rotations.shape() == (Shape{coefficients.size(0), 3, 3}) && rotations.dtype() == DType::F32,
            "rotate_sh: rotations must be (" + std::to_string(coefficients.size(0)) + ", 3, 3) f32, got " +
                rotations.describe());
  const Tensor c = coefficients.contiguous(), rot = rotations.contiguous();
  const int64_t m = c.size(0), ch = c.size(1), n = c.size(2);
  Tensor out = Tensor::empty(c.shape());
  for (int64_t i = 0; i < m; ++i) {
    std::array<double, 9> R;
    for (int k = 0; k < 9; ++k) R[k] = rot.data_as<float>()[i * 9 + k];
    const ShRotation r = sh_rotation(R);
    for (int64_t j = 0; j < ch; ++j)
      apply_sh_rotation(r, c.data_as<float>() + (i * ch + j) * n, out.data_as<float>() + (i * ch + j) * n,
                        static_cast<int>(n));
  }
  return out;
}

}  // namespace da3::model
