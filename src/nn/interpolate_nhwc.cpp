#include "nn/interpolate_nhwc.hpp"

#include <algorithm>
#include <vector>

namespace da3::nn {

namespace {

// One output coordinate's two source taps and weights, as torch's upsample_bilinear2d computes
// them (area_pixel_compute_scale / _source_index in float for f32 tensors).
struct Tap {
  int64_t i0, i1;
  float w0, w1;
};

std::vector<Tap> taps(int64_t in, int64_t out, bool align_corners) {
  float scale;
  if (align_corners)
    scale = out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.f;
  else
    scale = static_cast<float>(in) / static_cast<float>(out);
  std::vector<Tap> t(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    float src;
    if (align_corners) {
      src = scale * static_cast<float>(o);
    } else {
      src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
      if (src < 0.f) src = 0.f;
    }
    const int64_t i0 = static_cast<int64_t>(src);
    const float l = src - static_cast<float>(i0);
    t[o] = {i0, i0 + (i0 < in - 1 ? 1 : 0), 1.f - l, l};
  }
  return t;
}

}  // namespace

void interpolate_bilinear_nhwc_rows(const Tensor& slab, int64_t slab_row0, int64_t ih, int64_t oh, int64_t ow,
                                    bool align_corners, int64_t row0, Tensor& band) {
  DA3_CHECK(slab.dim() == 4 && slab.dtype() == DType::F32 && slab.is_contiguous(),
            "interpolate_bilinear_nhwc: expects contiguous NHWC f32, got " + slab.describe());
  DA3_CHECK(oh > 0 && ow > 0 && ih > 0, "interpolate_bilinear_nhwc: sizes must be positive");
  const int64_t n = slab.size(0), sh = slab.size(1), iw = slab.size(2), c = slab.size(3), rows = band.size(1);
  DA3_CHECK(band.dim() == 4 && band.dtype() == DType::F32 && band.is_contiguous() && band.size(0) == n &&
                band.size(2) == ow && band.size(3) == c,
            "interpolate_bilinear_nhwc: band must be contiguous f32 (" + std::to_string(n) + ", R, " +
                std::to_string(ow) + ", " + std::to_string(c) + "), got " + band.describe());
  if (band.numel() == 0) return;
  const auto [first, last] = bilinear_input_rows(ih, oh, align_corners, row0, rows);
  DA3_CHECK(first > last || (first >= slab_row0 && last < slab_row0 + sh && slab_row0 + sh <= ih),
            "interpolate_bilinear_nhwc: the band reads input rows " + std::to_string(first) + ".." +
                std::to_string(last) + ", the slab holds " + std::to_string(slab_row0) + ".." +
                std::to_string(slab_row0 + sh - 1) + " of " + std::to_string(ih));
  const std::vector<Tap> ty = taps(ih, oh, align_corners), tx = taps(iw, ow, align_corners);
  const float* xp = slab.data_as<float>();
  float* yp = band.data_as<float>();
  #pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t r = 0; r < rows; ++r) {
      float* out = yp + (b * rows + r) * ow * c;
      const int64_t oy = row0 + r;
      if (oy < 0 || oy >= oh) {
        std::fill(out, out + ow * c, 0.f);
        continue;
      }
      const Tap& vy = ty[oy];
      const float* r0 = xp + (b * sh + vy.i0 - slab_row0) * iw * c;
      const float* r1 = xp + (b * sh + vy.i1 - slab_row0) * iw * c;
      for (int64_t ox = 0; ox < ow; ++ox, out += c) {
        const Tap& vx = tx[ox];
        const float* a = r0 + vx.i0 * c;
        const float* bq = r0 + vx.i1 * c;
        const float* d = r1 + vx.i0 * c;
        const float* e = r1 + vx.i1 * c;
        #pragma omp simd
        for (int64_t ch = 0; ch < c; ++ch)
          out[ch] = vy.w0 * (vx.w0 * a[ch] + vx.w1 * bq[ch]) + vy.w1 * (vx.w0 * d[ch] + vx.w1 * e[ch]);
      }
    }
  }
}

void interpolate_bilinear_nhwc_rows(const Tensor& x, int64_t oh, int64_t ow, bool align_corners, int64_t row0,
                                    Tensor& band) {
  DA3_CHECK(x.dim() == 4, "interpolate_bilinear_nhwc: expects contiguous NHWC f32, got " + x.describe());
  interpolate_bilinear_nhwc_rows(x, 0, x.size(1), oh, ow, align_corners, row0, band);
}

std::pair<int64_t, int64_t> bilinear_input_rows(int64_t ih, int64_t oh, bool align_corners, int64_t row0,
                                                int64_t rows) {
  const int64_t lo = std::max<int64_t>(row0, 0), hi = std::min(row0 + rows, oh);  // output rows read from x
  if (lo >= hi) return {0, -1};
  // Taps are monotonic in the output row: the first row's i0 and the last row's i1 bound them all.
  const std::vector<Tap> ty = taps(ih, oh, align_corners);
  return {ty[lo].i0, ty[hi - 1].i1};
}

Tensor interpolate_bilinear_nhwc(const Tensor& x, int64_t oh, int64_t ow, bool align_corners) {
  DA3_CHECK(x.dim() == 4, "interpolate_bilinear_nhwc: expects contiguous NHWC f32, got " + x.describe());
  Tensor y = Tensor::empty({x.size(0), oh, ow, x.size(3)});
  interpolate_bilinear_nhwc_rows(x, oh, ow, align_corners, 0, y);
  return y;
}

}  // namespace da3::nn
