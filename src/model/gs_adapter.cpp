#include "model/gs_adapter.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <optional>

#include "core/sim3.hpp"
#include "da3/error.hpp"
#include "model/utils/sh_rotation.hpp"
#include "model/utils/transform.hpp"

namespace da3::model {

namespace {

Mat3 inverse3(const Mat3& a) {
  const double c00 = a[4] * a[8] - a[5] * a[7], c01 = a[5] * a[6] - a[3] * a[8], c02 = a[3] * a[7] - a[4] * a[6];
  const double det = a[0] * c00 + a[1] * c01 + a[2] * c02;
  DA3_CHECK(det != 0.0 && std::isfinite(det), "GaussianAdapter: singular intrinsics");
  const double s = 1.0 / det;
  return {c00 * s, (a[2] * a[7] - a[1] * a[8]) * s, (a[1] * a[5] - a[2] * a[4]) * s,
          c01 * s, (a[0] * a[8] - a[2] * a[6]) * s, (a[2] * a[3] - a[0] * a[5]) * s,
          c02 * s, (a[1] * a[6] - a[0] * a[7]) * s, (a[0] * a[4] - a[1] * a[3]) * s};
}

// Camera centres -R^T t of (S, 3|4, 4) world-to-camera extrinsics.
std::vector<Vec3> centres(const Tensor& ext) {
  const Tensor e = ext.contiguous();
  const int64_t s = e.size(0), rows = e.size(1);
  std::vector<Vec3> c(s);
  for (int64_t v = 0; v < s; ++v) {
    const float* E = e.data_as<float>() + v * rows * 4;
    for (int i = 0; i < 3; ++i) {
      double t = 0;
      for (int j = 0; j < 3; ++j) t -= double(E[j * 4 + i]) * E[j * 4 + 3];
      c[v][i] = t;
    }
  }
  return c;
}

float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

}  // namespace

double umeyama_pose_scale(const Tensor& ext_ref, const Tensor& ext_est) {
  // evo's umeyama_alignment(x = estimated centres, y = reference centres, with_scale); on
  // "Degenerate covariance rank" the reference catches evo's exception and uses scale 1.
  const std::optional<Sim3> m = umeyama_evo(centres(ext_est), centres(ext_ref));
  return m ? m->s : 1.0;
}

Tensor map_pdf_to_opacity(const Tensor& pdf) {
  const Tensor p = pdf.contiguous();
  Tensor out = Tensor::empty(p.shape());
  const float* a = p.data_as<float>();
  float* o = out.data_as<float>();
  for (int64_t i = 0; i < p.numel(); ++i) o[i] = 0.5f * (1.f - (1.f - a[i]) + a[i]);  // exponent 2^0 = 1
  return out;
}

GaussianAdapter::GaussianAdapter(const GsAdapterConfig& cfg) : cfg_(cfg) {
  DA3_CHECK(cfg.sh_degree >= 0 && cfg.sh_degree <= 2, "GaussianAdapter: sh_degree must be 0, 1 or 2");
}

Gaussians GaussianAdapter::forward(const Tensor& extrinsics, const Tensor& intrinsics, const Tensor& depths,
                                   const Tensor& opacities, const Tensor& raw_in, const Tensor& gt_extrinsics) const {
  DA3_CHECK(depths.dim() == 4, "GaussianAdapter: depths must be (B, S, H, W), got " + depths.describe());
  const int64_t B = depths.size(0), S = depths.size(1), H = depths.size(2), W = depths.size(3);
  const int d_in = cfg_.d_in(), d_sh = cfg_.d_sh();
  DA3_CHECK(raw_in.shape() == (Shape{B, S, H, W, d_in}), "GaussianAdapter: raw Gaussians must be (" + std::to_string(B) +
                                                              ", " + std::to_string(S) + ", " + std::to_string(H) + ", " +
                                                              std::to_string(W) + ", " + std::to_string(d_in) + "), got " +
                                                              raw_in.describe());
  DA3_CHECK(opacities.shape() == depths.shape(), "GaussianAdapter: opacities must match depths, got " + opacities.describe());
  DA3_CHECK(extrinsics.dim() == 4 && extrinsics.size(0) == B && extrinsics.size(1) == S && extrinsics.size(3) == 4 &&
                extrinsics.size(2) >= 3,
            "GaussianAdapter: extrinsics must be (B, S, 3|4, 4), got " + extrinsics.describe());
  DA3_CHECK(intrinsics.shape() == (Shape{B, S, 3, 3}), "GaussianAdapter: intrinsics must be (B, S, 3, 3), got " +
                                                           intrinsics.describe());
  const Tensor ext = extrinsics.contiguous(), ixt = intrinsics.contiguous(), dep = depths.contiguous(),
               opa = opacities.contiguous(), raw = raw_in.contiguous();
  const int64_t er = ext.size(2), px = H * W, G = S * px;

  Gaussians g;
  g.means = Tensor::empty({B, G, 3});
  g.scales = Tensor::empty({B, G, 3});
  g.rotations = Tensor::empty({B, G, 4});
  g.harmonics = Tensor::empty({B, G, 3, d_sh});
  g.opacities = opa.view({B, G}).clone();

  // The SH mask biases toward the DC term: 1 for degree 0, 0.1 · 0.25^l for degree l.
  std::vector<float> sh_mask(d_sh, 1.f);
  if (!cfg_.pred_color)
    for (int l = 1; l <= cfg_.sh_degree; ++l)
      for (int k = l * l; k < (l + 1) * (l + 1); ++k) sh_mask[k] = static_cast<float>(0.1 * std::pow(0.25, l));
  const bool rotate = !cfg_.pred_color && cfg_.sh_degree > 0;

  for (int64_t b = 0; b < B; ++b) {
    // 1.2) With given cameras that differ from the predicted ones, scale depth and camera
    //      positions by the Umeyama scale between the two trajectories (the depth is in the
    //      predicted cameras' frame).
    double pose_scale = 1.0;
    if (gt_extrinsics.defined()) {
      DA3_CHECK(gt_extrinsics.shape() == (Shape{B, S, 4, 4}),
                "GaussianAdapter: gt_extrinsics must be (B, S, 4, 4), got " + gt_extrinsics.describe());
      const Tensor gt = gt_extrinsics.contiguous().select(0, b);
      bool equal = er == 4;  // torch.equal on the homogeneous predicted extrinsics
      for (int64_t v = 0; equal && v < S; ++v)
        for (int k = 0; k < 16 && equal; ++k)
          equal = ext.data_as<float>()[((b * S + v) * 4) * 4 + k] == gt.data_as<float>()[v * 16 + k];
      if (er == 3) {  // as_homogeneous of a 3x4 is never equal to a given 4x4 unless that is [.. ; 0 0 0 1]
        equal = true;
        for (int64_t v = 0; equal && v < S; ++v) {
          const float* G4 = gt.data_as<float>() + v * 16;
          const float* E3 = ext.data_as<float>() + (b * S + v) * 12;
          for (int k = 0; k < 12 && equal; ++k) equal = E3[k] == G4[k];
          equal = equal && G4[12] == 0.f && G4[13] == 0.f && G4[14] == 0.f && G4[15] == 1.f;
        }
      }
      if (!equal) pose_scale = std::clamp(umeyama_pose_scale(gt, ext.select(0, b)), 1.0 / 3.0, 3.0);
    }
    for (int64_t v = 0; v < S; ++v) {
      // cam2world = affine_inverse(w2c); intrinsics normalised by the image size
      const float* E = ext.data_as<float>() + (b * S + v) * er * 4;
      Mat3 R;  // camera-to-world rotation = w2c rotationᵀ
      double t[3];
      for (int i = 0; i < 3; ++i) {
        t[i] = 0;
        for (int j = 0; j < 3; ++j) {
          R[i * 3 + j] = E[j * 4 + i];
          t[i] -= double(E[j * 4 + i]) * E[j * 4 + 3];
        }
        t[i] *= pose_scale;
      }
      const float* K = ixt.data_as<float>() + (b * S + v) * 9;
      Mat3 Kn;
      for (int j = 0; j < 3; ++j) Kn[j] = K[j] / double(W), Kn[3 + j] = K[3 + j] / double(H), Kn[6 + j] = K[6 + j];
      const Mat3 Kinv = inverse3(Kn);
      // get_scale_multiplier: 0.1 · sum(inverse(Kn[:2, :2]) @ (1/W, 1/H))
      const double k00 = Kn[0], k01 = Kn[1], k10 = Kn[3], k11 = Kn[4], kdet = k00 * k11 - k01 * k10;
      const double pw = 1.0 / W, ph = 1.0 / H;
      const double multiplier = 0.1 * ((k11 * pw - k01 * ph) + (-k10 * pw + k00 * ph)) / kdet;
      const ShRotation shr = rotate ? sh_rotation(R) : ShRotation{};
      float Rf[12] = {};  // c2w rotation, row stride 4, for mat_to_quat
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) Rf[i * 4 + j] = static_cast<float>(R[i * 3 + j]);

      #pragma omp parallel for schedule(static)
      for (int64_t p = 0; p < px; ++p) {
        const int64_t y = p / W, x = p % W, gi = b * G + v * px + p;
        const float* r = raw.data_as<float>() + ((b * S + v) * px + p) * d_in;
        // 1.1) depth (+ predicted offset, the last channel), times the pose scale
        double depth = dep.data_as<float>()[(b * S + v) * px + p];
        if (cfg_.pred_offset_depth) depth += r[d_in - 1];
        depth *= pose_scale;
        // 1.3) pixel centre in [0, 1] (+ predicted offset in pixels)
        double u = (x + 0.5) / W, w = (y + 0.5) / H;
        int o = 0;
        if (cfg_.pred_offset_xy) {
          u += r[0] * pw;
          w += r[1] * ph;
          o = 2;
        }
        // 1.4) world ray: normalised Kn⁻¹ [u, w, 1], rotated to world, from the camera centre
        double dir[3];
        for (int i = 0; i < 3; ++i) dir[i] = Kinv[i * 3] * u + Kinv[i * 3 + 1] * w + Kinv[i * 3 + 2];
        const double dn = std::sqrt(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]);
        float* mean = g.means.data_as<float>() + gi * 3;
        for (int i = 0; i < 3; ++i)
          mean[i] = static_cast<float>(
              t[i] + (R[i * 3] * dir[0] + R[i * 3 + 1] * dir[1] + R[i * 3 + 2] * dir[2]) / dn * depth);
        // 2.1) scales: sigmoid into [min, max], times depth and the pixel footprint
        float* sc = g.scales.data_as<float>() + gi * 3;
        const double smin = cfg_.gaussian_scale_min, smax = cfg_.gaussian_scale_max;
        for (int i = 0; i < 3; ++i)
          sc[i] = static_cast<float>((smin + (smax - smin) * sigmoid(r[o + i])) * depth * multiplier);
        // 2.2) rotation. The reference normalises the xyzw quaternion, reorders it to wxyz and
        //      hands that to quat_to_mat, which reads xyzw: the matrix is that of the quaternion
        //      (x=w, y=x, z=y, w=z). We do the same so the outputs match. The world rotation
        //      c2w · that matrix goes back through mat_to_quat, whose (x, y, z, w) order (last
        //      component >= 0) is what the reference returns as world_quat_wxyz, and what its
        //      gs_ply writes as rot_0..rot_3.
        const float* q = r + o + 3;
        const float qn = std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]) + 1e-8f;
        const float as_read[4] = {q[3] / qn, q[0] / qn, q[1] / qn, q[2] / qn};
        float cam[9];
        quat_to_mat(as_read, cam);
        float world[12] = {};
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 3; ++j)
            world[i * 4 + j] = Rf[i * 4] * cam[j] + Rf[i * 4 + 1] * cam[3 + j] + Rf[i * 4 + 2] * cam[6 + j];
        mat_to_quat(world, g.rotations.data_as<float>() + gi * 4);
        // 2.3) SH: channels (colour, coefficient), masked, then rotated by the camera rotation
        const float* sh = r + o + 7;
        float* out = g.harmonics.data_as<float>() + gi * 3 * d_sh;
        for (int c = 0; c < 3; ++c) {
          float masked[9];
          for (int k = 0; k < d_sh; ++k) masked[k] = sh[c * d_sh + k] * sh_mask[k];
          if (rotate)
            apply_sh_rotation(shr, masked, out + c * d_sh, d_sh);
          else
            std::memcpy(out + c * d_sh, masked, d_sh * sizeof(float));
        }
      }
    }
  }
  return g;
}

}  // namespace da3::model
