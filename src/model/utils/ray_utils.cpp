#include "model/utils/ray_utils.hpp"

#include <cmath>
#include <string>

#include "model/utils/ray_linalg.hpp"
#include "model/utils/ray_ransac.hpp"

namespace da3::model {

namespace ray {

namespace {

// compute_optimal_rotation_intrinsics_batch's z_threshold: a point is used only where both the
// image-plane point and the ray direction have |z| above it.
constexpr double kZThreshold = 1e-4;

struct RayShape {
  int64_t views, h, w;
};

RayShape check_inputs(const Tensor& ray, const Tensor& conf) {
  const std::string where = "ray pose (pose_from_rays): ";
  DA3_CHECK(ray.defined() && conf.defined(), where + "ray and ray_conf must be defined");
  DA3_CHECK(ray.device() == Device::CPU && conf.device() == Device::CPU,
            where + "expects CPU tensors (the RANSAC runs on the CPU), got ray " + ray.describe() + ", ray_conf " +
                conf.describe());
  DA3_CHECK(dtype_is_float(ray.dtype()) && dtype_is_float(conf.dtype()),
            where + "expects floating-point ray and ray_conf, got " + ray.describe() + ", " + conf.describe());
  DA3_CHECK(ray.dim() == 5 && ray.size(4) == 6,
            where + "ray must be (B, S, h, w, 6) [direction, origin], got " + shape_str(ray.shape()));
  const Shape want_conf = {ray.size(0), ray.size(1), ray.size(2), ray.size(3)};
  Shape conf_shape = conf.shape();
  if (conf_shape.size() == 5 && conf_shape[4] == 1) conf_shape.pop_back();  // the reference's squeeze(-1)
  DA3_CHECK(conf_shape == want_conf, where + "ray_conf must be (B, S, h, w) = " + shape_str(want_conf) +
                                         " to match ray " + shape_str(ray.shape()) + ", got " +
                                         shape_str(conf.shape()));
  const RayShape s{ray.size(0) * ray.size(1), ray.size(2), ray.size(3)};
  // get_params_for_ransac samples 8 distinct points among the candidates: fewer points than that
  // make the reference fail with an index error.
  DA3_CHECK(s.views > 0 && s.h * s.w >= 8,
            where + "needs at least one view and at least 8 rays per view, got ray " + shape_str(ray.shape()));
  return s;
}

// The reference's sample indices, validated, or 100 x 8 fresh ones from `rng`.
std::vector<int64_t> hypotheses(const RansacSamples& samples, const RansacParams& params, SampleRng& rng,
                                int64_t& n_iter, int64_t& k) {
  std::vector<int64_t> idx;
  if (!samples.sample_idx.defined()) {
    n_iter = params.n_iter, k = params.num_sample;
    for (int64_t it = 0; it < n_iter; ++it) {
      const std::vector<int64_t> row = randperm_prefix(params.n_sample, k, rng);
      idx.insert(idx.end(), row.begin(), row.end());
    }
    return idx;
  }
  const Tensor& t = samples.sample_idx;
  DA3_CHECK(t.device() == Device::CPU && t.dtype() == DType::I64 && t.dim() == 2 && t.size(0) >= 1 && t.size(1) >= 4,
            "ray pose: RansacSamples::sample_idx must be a CPU int64 (num_hypotheses, sample_size >= 4) tensor, got " +
                t.describe());
  n_iter = t.size(0), k = t.size(1);
  const Tensor c = t.contiguous();
  const int64_t* p = c.data_as<int64_t>();
  idx.assign(p, p + n_iter * k);
  for (const int64_t v : idx)
    DA3_CHECK(v >= 0 && v < params.n_sample, "ray pose: RansacSamples::sample_idx holds " + std::to_string(v) +
                                                 ", outside [0, " + std::to_string(params.n_sample) +
                                                 ") (the candidate count for this ray map)");
  return idx;
}

}  // namespace

std::vector<ViewCamera> camray_to_caminfo(const Tensor& ray_in, const Tensor& conf_in, const RansacSamples& samples) {
  const RayShape s = check_inputs(ray_in, conf_in);
  const Tensor ray = ray_in.to(DType::F64);
  const Tensor conf = conf_in.to(DType::F64);
  const double* rp = ray.data_as<double>();
  const double* cp = conf.data_as<double>();
  const int64_t n = s.h * s.w;

  const RansacParams params = get_params_for_ransac(n);
  SampleRng rng(samples.seed);
  int64_t n_iter = 0, k = 0;
  const std::vector<int64_t> sample_idx = hypotheses(samples, params, rng, n_iter, k);

  // The image plane at depth 1 with an identity camera on a 2 x 2 image (unproject_depth with
  // ixt_normalized): pixel centres x_j = (2j + 1) / w - 1, y_i = (2i + 1) / h - 1. The reference
  // gets the same points from a float32 linspace; exact values here (see docs/ray_pose.md).
  // Their z is 1, so they are never masked and need no division.
  std::vector<double> src(static_cast<size_t>(2 * n));
  for (int64_t i = 0; i < s.h; ++i)
    for (int64_t j = 0; j < s.w; ++j) {
      src[static_cast<size_t>(2 * (i * s.w + j))] = (2.0 * static_cast<double>(j) + 1.0) / static_cast<double>(s.w) - 1.0;
      src[static_cast<size_t>(2 * (i * s.w + j) + 1)] = (2.0 * static_cast<double>(i) + 1.0) / static_cast<double>(s.h) - 1.0;
    }

  std::vector<ViewCamera> cams(static_cast<size_t>(s.views));
  std::vector<double> dst(static_cast<size_t>(2 * n)), weight(static_cast<size_t>(n));
  for (int64_t v = 0; v < s.views; ++v) {
    const double* r = rp + v * n * 6;
    const double* c = cp + v * n;
    // Ray directions projected to z = 1. Where |z| is tiny the point keeps its raw x, y and gets
    // weight 0 -- and that zeroed weight is also the one the translation average uses below,
    // because the reference zeroes the shared confidence tensor in place.
    for (int64_t p = 0; p < n; ++p) {
      const double dz = r[p * 6 + 2];
      const bool valid = std::abs(dz) > kZThreshold;
      dst[static_cast<size_t>(2 * p)] = valid ? r[p * 6] / dz : r[p * 6];
      dst[static_cast<size_t>(2 * p + 1)] = valid ? r[p * 6 + 1] / dz : r[p * 6 + 1];
      weight[static_cast<size_t>(p)] = valid ? c[p] : 0.0;
    }
    const Correspondences pts{src.data(), dst.data(), weight.data(), n};
    const RansacResult fit =
        ransac_homography_weighted(pts, params.n_sample, sample_idx.data(), n_iter, k, RansacOptions{}, rng);

    ViewCamera& cam = cams[static_cast<size_t>(v)];
    cam.best_hypothesis = fit.best_hypothesis;
    cam.num_inliers = fit.num_inliers;
    // A homography is defined up to scale; the sign is chosen so det > 0, which makes the
    // Q of the QL factors a rotation (L has a positive diagonal).
    for (int i = 0; i < 9; ++i) cam.homography[i] = fit.h[i];
    if (det3(cam.homography) < 0)
      for (double& e : cam.homography) e = -e;
    double l[9];
    ql_decomposition3(cam.homography, cam.rotation, l);
    const double l22 = l[8];
    for (double& e : l) e /= l22;
    cam.focal[0] = 1.0 / l[0], cam.focal[1] = 1.0 / l[4];
    cam.principal[0] = l[6] + 1.0, cam.principal[1] = l[7] + 1.0;

    double sum_w = 0.0, t[3] = {0.0, 0.0, 0.0};
    for (int64_t p = 0; p < n; ++p) {
      const double w = weight[static_cast<size_t>(p)];
      for (int d = 0; d < 3; ++d) t[d] += r[p * 6 + 3 + d] * w;
      sum_w += w;
    }
    for (int d = 0; d < 3; ++d) cam.translation[d] = t[d] / sum_w;
  }
  return cams;
}

}  // namespace ray

void pose_from_rays(const Tensor& ray, const Tensor& ray_conf, int64_t H, int64_t W, const RansacSamples& samples,
                    Tensor& extrinsics, Tensor& intrinsics) {
  DA3_CHECK(H > 0 && W > 0, "ray pose (pose_from_rays): image size must be positive, got " + std::to_string(H) + " x " +
                                std::to_string(W));
  const std::vector<ray::ViewCamera> cams = ray::camray_to_caminfo(ray, ray_conf, samples);
  const int64_t B = ray.size(0), S = ray.size(1);
  extrinsics = Tensor::empty({B, S, 3, 4});
  intrinsics = Tensor::zeros({B, S, 3, 3});
  float* e = extrinsics.data_as<float>();
  float* k = intrinsics.data_as<float>();
  for (size_t v = 0; v < cams.size(); ++v) {
    const ray::ViewCamera& c = cams[v];
    // The fit gives camera-to-world [R | T]; the network reports world-to-camera
    // (affine_inverse): [R^T | -R^T T].
    float* E = e + v * 12;
    for (int i = 0; i < 3; ++i) {
      double t = 0.0;
      for (int j = 0; j < 3; ++j) {
        E[i * 4 + j] = static_cast<float>(c.rotation[j * 3 + i]);
        t += c.rotation[j * 3 + i] * c.translation[j];
      }
      E[i * 4 + 3] = static_cast<float>(-t);
    }
    // Focal lengths and principal points are in units of half the image; scale to pixels.
    float* K = k + v * 9;
    K[0] = static_cast<float>(c.focal[0] / 2.0 * static_cast<double>(W));
    K[4] = static_cast<float>(c.focal[1] / 2.0 * static_cast<double>(H));
    K[2] = static_cast<float>(c.principal[0] * static_cast<double>(W) * 0.5);
    K[5] = static_cast<float>(c.principal[1] * static_cast<double>(H) * 0.5);
    K[8] = 1.0f;
  }
}

}  // namespace da3::model
