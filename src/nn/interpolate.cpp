#include "nn/interpolate.hpp"

#include <algorithm>
#include <cmath>

namespace da3::nn {

namespace {

// torch's area_pixel_compute_scale (opmath float for f32 tensors).
float source_scale(int64_t in, int64_t out, bool align_corners, std::optional<double> scale) {
  if (align_corners) return out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.f;
  if (scale && *scale > 0) return static_cast<float>(1.0 / *scale);
  return static_cast<float>(in) / static_cast<float>(out);
}

float cubic1(float x, float a) { return ((a + 2) * x - (a + 3)) * x * x + 1; }
float cubic2(float x, float a) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; }

void cubic_coeffs(float t, float c[4]) {
  const float a = -0.75f;
  c[0] = cubic2(t + 1.f, a);
  c[1] = cubic1(t, a);
  c[2] = cubic1(1.f - t, a);
  c[3] = cubic2(2.f - t, a);
}

void check_nchw(const Tensor& x, const char* op) {
  DA3_CHECK(x.dim() == 4 && x.dtype() == DType::F32, std::string(op) + ": expects NCHW f32, got " + x.describe());
}

}  // namespace

Tensor interpolate_bicubic(const Tensor& xin, int64_t oh, int64_t ow, std::optional<double> scale_h,
                           std::optional<double> scale_w) {
  check_nchw(xin, "interpolate_bicubic");
  const Tensor x = xin.contiguous();
  const int64_t n = x.size(0), c = x.size(1), ih = x.size(2), iw = x.size(3);
  Tensor y = Tensor::empty({n, c, oh, ow});
  const float sh = source_scale(ih, oh, false, scale_h), sw = source_scale(iw, ow, false, scale_w);
  const float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
  #pragma omp parallel for collapse(2) schedule(static)
  for (int64_t p = 0; p < n * c; ++p) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      const float* plane = xp + p * ih * iw;
      const float ry = sh * (static_cast<float>(oy) + 0.5f) - 0.5f;  // cubic: not clamped at 0
      const int64_t y0 = static_cast<int64_t>(std::floor(ry));
      float cy[4];
      cubic_coeffs(ry - static_cast<float>(y0), cy);
      for (int64_t ox = 0; ox < ow; ++ox) {
        const float rx = sw * (static_cast<float>(ox) + 0.5f) - 0.5f;
        const int64_t x0 = static_cast<int64_t>(std::floor(rx));
        float cx[4];
        cubic_coeffs(rx - static_cast<float>(x0), cx);
        float rows[4];
        for (int k = 0; k < 4; ++k) {
          const int64_t yy = std::clamp<int64_t>(y0 - 1 + k, 0, ih - 1);
          const float* row = plane + yy * iw;
          float acc = 0.f;
          for (int j = 0; j < 4; ++j) acc += row[std::clamp<int64_t>(x0 - 1 + j, 0, iw - 1)] * cx[j];
          rows[k] = acc;
        }
        yp[(p * oh + oy) * ow + ox] = rows[0] * cy[0] + rows[1] * cy[1] + rows[2] * cy[2] + rows[3] * cy[3];
      }
    }
  }
  return y;
}

Tensor interpolate_bilinear(const Tensor& xin, int64_t oh, int64_t ow, bool align_corners) {
  check_nchw(xin, "interpolate_bilinear");
  const Tensor x = xin.contiguous();
  const int64_t n = x.size(0), c = x.size(1), ih = x.size(2), iw = x.size(3);
  Tensor y = Tensor::empty({n, c, oh, ow});
  const float sh = source_scale(ih, oh, align_corners, std::nullopt);
  const float sw = source_scale(iw, ow, align_corners, std::nullopt);
  auto src = [&](int64_t o, float s) {
    // torch's area_pixel_compute_source_index for linear modes.
    if (align_corners) return s * static_cast<float>(o);
    const float r = s * (static_cast<float>(o) + 0.5f) - 0.5f;
    return r < 0.f ? 0.f : r;
  };
  const float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
  #pragma omp parallel for collapse(2) schedule(static)
  for (int64_t p = 0; p < n * c; ++p) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      const float* plane = xp + p * ih * iw;
      const float ry = src(oy, sh);
      const int64_t y0 = static_cast<int64_t>(ry);
      const int64_t y1 = y0 + (y0 < ih - 1 ? 1 : 0);
      const float ly = ry - static_cast<float>(y0), hy = 1.f - ly;
      for (int64_t ox = 0; ox < ow; ++ox) {
        const float rx = src(ox, sw);
        const int64_t x0 = static_cast<int64_t>(rx);
        const int64_t x1 = x0 + (x0 < iw - 1 ? 1 : 0);
        const float lx = rx - static_cast<float>(x0), hx = 1.f - lx;
        yp[(p * oh + oy) * ow + ox] = hy * (hx * plane[y0 * iw + x0] + lx * plane[y0 * iw + x1]) +
                                      ly * (hx * plane[y1 * iw + x0] + lx * plane[y1 * iw + x1]);
      }
    }
  }
  return y;
}

}  // namespace da3::nn
