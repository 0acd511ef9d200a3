// See gs_render.hpp. Per frame: project every Gaussian (mean, 2-D covariance, colour), sort
// them front to back, list each one in the 16x16 tiles its 3σ box touches (in that order), then
// composite the tiles independently (OpenMP over tiles).
#include "pipeline/gs_render.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "da3/error.hpp"

namespace da3::pipeline {

namespace {

constexpr int kTile = 16;

// Real spherical-harmonic constants of degrees 0-2 in the ordering 3DGS and gsplat use.
constexpr float kC0 = 0.28209479177387814f, kC1 = 0.4886025119029199f;
constexpr float kC2[5] = {1.0925484305920792f, -1.0925484305920792f, 0.31539156525252005f, -1.0925484305920792f,
                          0.5462742152960396f};

struct Splat {
  float x, y;           // centre, pixels
  float a, b, c;        // conic: inverse 2-D covariance [[a, b], [b, c]]
  float opacity;
  float rgb[3];
  float depth;
  int x0, y0, x1, y1;   // tile range, inclusive-exclusive
};

}  // namespace

std::vector<uint8_t> render_gaussians(const GaussianSet& g, const GsCamera& cam) {
  DA3_CHECK(g.means.defined() && g.means.dim() == 3 && g.means.size(2) == 3, "render_gaussians: means must be (1, G, 3)");
  const int64_t G = g.means.size(1);
  DA3_CHECK(g.harmonics.dim() == 4 && g.harmonics.size(1) == G && g.harmonics.size(2) == 3,
            "render_gaussians: harmonics must be (1, G, 3, d_sh)");
  const int64_t d_sh = g.harmonics.size(3);
  DA3_CHECK(d_sh == 1 || d_sh == 4 || d_sh == 9, "render_gaussians: spherical harmonics of degree 0-2 only");
  DA3_CHECK(cam.width > 0 && cam.height > 0, "render_gaussians: empty image size");
  const Tensor means = g.means.contiguous(), scales = g.scales.contiguous(), rots = g.rotations.contiguous(),
               sh = g.harmonics.contiguous(), opa = g.opacities.contiguous();
  const float *M = means.data_as<float>(), *S = scales.data_as<float>(), *Q = rots.data_as<float>(),
              *H = sh.data_as<float>(), *O = opa.data_as<float>();
  const int W = cam.width, Ht = cam.height;
  const int tiles_x = (W + kTile - 1) / kTile, tiles_y = (Ht + kTile - 1) / kTile;
  const auto& R = cam.R;
  // Camera centre -Rᵀ t, for the view directions of the colours.
  double centre[3];
  for (int j = 0; j < 3; ++j) centre[j] = -(R[j] * cam.t[0] + R[3 + j] * cam.t[1] + R[6 + j] * cam.t[2]);
  // gsplat clamps the point used in the Jacobian to 1.3 × the half field of view.
  const double lim_x = 1.3 * 0.5 * W / cam.fx, lim_y = 1.3 * 0.5 * Ht / cam.fy;

  std::vector<Splat> splats(static_cast<size_t>(G));
  std::vector<char> visible(static_cast<size_t>(G), 0);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < G; ++i) {
    const float* m = M + i * 3;
    double p[3];
    for (int r = 0; r < 3; ++r) p[r] = R[r * 3] * m[0] + R[r * 3 + 1] * m[1] + R[r * 3 + 2] * m[2] + cam.t[r];
    if (!(p[2] > 0.01) || !std::isfinite(p[0] + p[1] + p[2])) continue;
    const float opacity = O[i];
    if (!(opacity >= 1.f / 255.f)) continue;
    // Σ = Rq diag(s²) Rqᵀ, the quaternion read as (w, x, y, z) and normalised.
    const float* q = Q + i * 4;
    const double qn = std::sqrt(double(q[0]) * q[0] + double(q[1]) * q[1] + double(q[2]) * q[2] + double(q[3]) * q[3]);
    if (!(qn > 0)) continue;
    const double w = q[0] / qn, x = q[1] / qn, y = q[2] / qn, z = q[3] / qn;
    const double Rq[9] = {1 - 2 * (y * y + z * z), 2 * (x * y - w * z),     2 * (x * z + w * y),
                          2 * (x * y + w * z),     1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                          2 * (x * z - w * y),     2 * (y * z + w * x),     1 - 2 * (x * x + y * y)};
    const double s2[3] = {double(S[i * 3]) * S[i * 3], double(S[i * 3 + 1]) * S[i * 3 + 1],
                          double(S[i * 3 + 2]) * S[i * 3 + 2]};
    // T = J Rc Rq diag(s): the 2x3 Jacobian of the projection at p, times the rotations.
    const double tx = std::clamp(p[0] / p[2], -lim_x, lim_x) * p[2], ty = std::clamp(p[1] / p[2], -lim_y, lim_y) * p[2];
    const double J[6] = {cam.fx / p[2], 0, -cam.fx * tx / (p[2] * p[2]), 0, cam.fy / p[2], -cam.fy * ty / (p[2] * p[2])};
    double JR[6] = {};  // J · Rc
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c)
        for (int k = 0; k < 3; ++k) JR[r * 3 + c] += J[r * 3 + k] * R[k * 3 + c];
    double T[6] = {};  // J Rc Rq
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c)
        for (int k = 0; k < 3; ++k) T[r * 3 + c] += JR[r * 3 + k] * Rq[k * 3 + c];
    double cov[3] = {0.3, 0, 0.3};  // the 0.3 px² low-pass
    for (int k = 0; k < 3; ++k) {
      cov[0] += T[k] * T[k] * s2[k];
      cov[1] += T[k] * T[3 + k] * s2[k];
      cov[2] += T[3 + k] * T[3 + k] * s2[k];
    }
    const double det = cov[0] * cov[2] - cov[1] * cov[1];
    if (!(det > 0) || !std::isfinite(det)) continue;
    const double mid = 0.5 * (cov[0] + cov[2]);
    const double radius = std::ceil(3 * std::sqrt(mid + std::sqrt(std::max(0.1, mid * mid - det))));
    const double u = cam.fx * p[0] / p[2] + cam.cx, v = cam.fy * p[1] / p[2] + cam.cy;
    Splat& sp = splats[static_cast<size_t>(i)];
    sp.x0 = std::max(0, int(std::floor((u - radius) / kTile)));
    sp.x1 = std::min(tiles_x, int(std::floor((u + radius) / kTile)) + 1);
    sp.y0 = std::max(0, int(std::floor((v - radius) / kTile)));
    sp.y1 = std::min(tiles_y, int(std::floor((v + radius) / kTile)) + 1);
    if (sp.x0 >= sp.x1 || sp.y0 >= sp.y1) continue;
    sp.x = float(u);
    sp.y = float(v);
    sp.a = float(cov[2] / det);
    sp.b = float(-cov[1] / det);
    sp.c = float(cov[0] / det);
    sp.opacity = opacity;
    sp.depth = float(p[2]);
    // Colour: the SH evaluated in the viewing direction (centre -> mean), + 0.5, clamped at 0.
    double d[3] = {m[0] - centre[0], m[1] - centre[1], m[2] - centre[2]};
    const double dn = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    const float dx = float(d[0] / dn), dy = float(d[1] / dn), dz = float(d[2] / dn);
    for (int ch = 0; ch < 3; ++ch) {
      const float* k = H + (i * 3 + ch) * d_sh;
      float c = kC0 * k[0];
      if (d_sh > 1) c += kC1 * (-dy * k[1] + dz * k[2] - dx * k[3]);
      if (d_sh > 4)
        c += kC2[0] * dx * dy * k[4] + kC2[1] * dy * dz * k[5] + kC2[2] * (2 * dz * dz - dx * dx - dy * dy) * k[6] +
             kC2[3] * dx * dz * k[7] + kC2[4] * (dx * dx - dy * dy) * k[8];
      sp.rgb[ch] = std::max(0.f, c + 0.5f);
    }
    visible[static_cast<size_t>(i)] = 1;
  }

  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(G));
  for (int64_t i = 0; i < G; ++i)
    if (visible[static_cast<size_t>(i)]) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return splats[a].depth < splats[b].depth; });
  std::vector<std::vector<int64_t>> tiles(static_cast<size_t>(tiles_x) * tiles_y);
  for (int64_t i : order) {
    const Splat& sp = splats[static_cast<size_t>(i)];
    for (int ty = sp.y0; ty < sp.y1; ++ty)
      for (int tx = sp.x0; tx < sp.x1; ++tx) tiles[static_cast<size_t>(ty) * tiles_x + tx].push_back(i);
  }

  std::vector<uint8_t> image(static_cast<size_t>(W) * Ht * 3, 0);
#pragma omp parallel for schedule(dynamic)
  for (int t = 0; t < tiles_x * tiles_y; ++t) {
    const int ox = (t % tiles_x) * kTile, oy = (t / tiles_x) * kTile;
    float rgb[kTile * kTile][3] = {};
    float trans[kTile * kTile];
    std::fill(trans, trans + kTile * kTile, 1.f);
    int done = 0;
    for (int64_t i : tiles[static_cast<size_t>(t)]) {
      const Splat& sp = splats[static_cast<size_t>(i)];
      for (int py = 0; py < kTile && oy + py < Ht; ++py)
        for (int px = 0; px < kTile && ox + px < W; ++px) {
          const int k = py * kTile + px;
          if (trans[k] < 1e-4f) continue;
          const float ddx = float(ox + px) + 0.5f - sp.x, ddy = float(oy + py) + 0.5f - sp.y;
          const float power = -0.5f * (sp.a * ddx * ddx + sp.c * ddy * ddy) - sp.b * ddx * ddy;
          if (power > 0) continue;
          const float alpha = std::min(0.999f, sp.opacity * std::exp(power));
          if (alpha < 1.f / 255.f) continue;
          const float wgt = alpha * trans[k];
          for (int ch = 0; ch < 3; ++ch) rgb[k][ch] += wgt * sp.rgb[ch];
          trans[k] *= 1 - alpha;
          if (trans[k] < 1e-4f) ++done;
        }
      if (done == kTile * kTile) break;
    }
    for (int py = 0; py < kTile && oy + py < Ht; ++py)
      for (int px = 0; px < kTile && ox + px < W; ++px)
        for (int ch = 0; ch < 3; ++ch) {
          const float v = std::clamp(rgb[py * kTile + px][ch], 0.f, 1.f);
          image[(static_cast<size_t>(oy + py) * W + ox + px) * 3 + ch] = static_cast<uint8_t>(v * 255.f + 0.5f);
        }
  }
  return image;
}

namespace {

using Quat = std::array<double, 4>;  // (w, x, y, z)

Quat quat_of(const double* R) {  // rotation matrix (row-major) -> unit quaternion
  Quat q;
  const double tr = R[0] + R[4] + R[8];
  if (tr > 0) {
    const double s = 2 * std::sqrt(tr + 1);
    q = {0.25 * s, (R[7] - R[5]) / s, (R[2] - R[6]) / s, (R[3] - R[1]) / s};
  } else if (R[0] > R[4] && R[0] > R[8]) {
    const double s = 2 * std::sqrt(1 + R[0] - R[4] - R[8]);
    q = {(R[7] - R[5]) / s, 0.25 * s, (R[1] + R[3]) / s, (R[2] + R[6]) / s};
  } else if (R[4] > R[8]) {
    const double s = 2 * std::sqrt(1 + R[4] - R[0] - R[8]);
    q = {(R[2] - R[6]) / s, (R[1] + R[3]) / s, 0.25 * s, (R[5] + R[7]) / s};
  } else {
    const double s = 2 * std::sqrt(1 + R[8] - R[0] - R[4]);
    q = {(R[3] - R[1]) / s, (R[2] + R[6]) / s, (R[5] + R[7]) / s, 0.25 * s};
  }
  return q;
}

std::array<double, 9> matrix_of(Quat q) {
  const double n = std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  const double w = q[0] / n, x = q[1] / n, y = q[2] / n, z = q[3] / n;
  return {1 - 2 * (y * y + z * z), 2 * (x * y - w * z),     2 * (x * z + w * y),
          2 * (x * y + w * z),     1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
          2 * (x * z - w * y),     2 * (y * z + w * x),     1 - 2 * (x * x + y * y)};
}

Quat slerp(Quat a, Quat b, double t) {
  double dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3];
  if (dot < 0) {  // the short way round
    for (double& v : b) v = -v;
    dot = -dot;
  }
  Quat q;
  if (dot > 0.9995) {
    for (int i = 0; i < 4; ++i) q[i] = a[i] + t * (b[i] - a[i]);
    return q;
  }
  const double th = std::acos(dot), s = std::sin(th);
  const double wa = std::sin((1 - t) * th) / s, wb = std::sin(t * th) / s;
  for (int i = 0; i < 4; ++i) q[i] = wa * a[i] + wb * b[i];
  return q;
}

}  // namespace

std::vector<GsCamera> preview_trajectory(const Tensor& extrinsics, const Tensor& intrinsics, int width, int height,
                                         double scene_depth, int frames_per_step) {
  DA3_CHECK(extrinsics.dim() == 3 && extrinsics.size(1) >= 3 && extrinsics.size(2) == 4,
            "preview_trajectory: extrinsics must be (N, 3|4, 4)");
  DA3_CHECK(intrinsics.dim() == 3 && intrinsics.size(0) == extrinsics.size(0), "preview_trajectory: intrinsics must be (N, 3, 3)");
  const Tensor E = extrinsics.to(DType::F32).contiguous(), K = intrinsics.to(DType::F32).contiguous();
  const int64_t n = E.size(0), rows = E.size(1);
  struct Key {
    Quat q;                  // camera-to-world rotation
    std::array<double, 3> c;  // centre
    double fx, fy, cx, cy;
  };
  std::vector<Key> keys(static_cast<size_t>(n));
  for (int64_t v = 0; v < n; ++v) {
    const float* e = E.data_as<float>() + v * rows * 4;
    const float* k = K.data_as<float>() + v * 9;
    double Rt[9];  // Rᵀ: camera-to-world
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) Rt[r * 3 + c] = e[c * 4 + r];
    Key& key = keys[static_cast<size_t>(v)];
    key.q = quat_of(Rt);
    for (int j = 0; j < 3; ++j) key.c[j] = -(Rt[j * 3] * e[3] + Rt[j * 3 + 1] * e[7] + Rt[j * 3 + 2] * e[11]);
    key.fx = k[0], key.fy = k[4], key.cx = k[2], key.cy = k[5];
  }
  auto camera = [&](const Quat& q, const std::array<double, 3>& c, double fx, double fy, double cx, double cy) {
    GsCamera cam;
    const auto c2w = matrix_of(q);
    for (int r = 0; r < 3; ++r)
      for (int k = 0; k < 3; ++k) cam.R[r * 3 + k] = c2w[k * 3 + r];
    for (int r = 0; r < 3; ++r) cam.t[r] = -(cam.R[r * 3] * c[0] + cam.R[r * 3 + 1] * c[1] + cam.R[r * 3 + 2] * c[2]);
    cam.fx = fx, cam.fy = fy, cam.cx = cx, cam.cy = cy, cam.width = width, cam.height = height;
    return cam;
  };
  std::vector<GsCamera> path;
  if (n == 1) {
    const Key& k = keys[0];
    const auto c2w = matrix_of(k.q);
    const double r = 0.05 * scene_depth;
    for (int f = 0; f < 36; ++f) {  // a circle in the camera's own x-y plane
      const double a = 2 * M_PI * f / 36, ox = r * std::cos(a) - r, oy = r * std::sin(a);
      std::array<double, 3> c;
      for (int j = 0; j < 3; ++j) c[j] = k.c[j] + c2w[j * 3] * ox + c2w[j * 3 + 1] * oy;
      path.push_back(camera(k.q, c, k.fx, k.fy, k.cx, k.cy));
    }
    return path;
  }
  for (int64_t v = 0; v + 1 < n; ++v) {
    const Key &a = keys[static_cast<size_t>(v)], &b = keys[static_cast<size_t>(v + 1)];
    const int last = v + 2 == n ? frames_per_step : frames_per_step - 1;  // the end key once
    for (int f = 0; f <= last; ++f) {
      const double t = 0.5 - 0.5 * std::cos(M_PI * f / frames_per_step);  // eased in and out
      std::array<double, 3> c;
      for (int j = 0; j < 3; ++j) c[j] = a.c[j] + t * (b.c[j] - a.c[j]);
      path.push_back(camera(slerp(a.q, b.q, t), c, a.fx + t * (b.fx - a.fx), a.fy + t * (b.fy - a.fy),
                            a.cx + t * (b.cx - a.cx), a.cy + t * (b.cy - a.cy)));
    }
  }
  return path;
}

}  // namespace da3::pipeline
