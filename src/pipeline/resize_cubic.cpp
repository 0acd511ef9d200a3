#include "pipeline/resize_cubic.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "da3/error.hpp"

namespace da3::pipeline {

namespace {

// For each output coordinate: the 4 source indices (clamped) and float32 weights.
struct Taps {
  std::vector<int> index;     // 4 per output
  std::vector<float> weight;  // 4 per output
};

Taps taps(int src_size, int dst_size) {
  Taps t;
  t.index.resize(size_t(dst_size) * 4);
  t.weight.resize(size_t(dst_size) * 4);
  const double scale = double(src_size) / dst_size;
  const double A = -0.75;
  for (int d = 0; d < dst_size; ++d) {
    const double f = (d + 0.5) * scale - 0.5;  // pixel centres aligned
    const double s = std::floor(f), x = f - s;
    const double c0 = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
    const double c1 = ((A + 2) * x - (A + 3)) * x * x + 1;
    const double c2 = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
    const double c[4] = {c0, c1, c2, 1 - c0 - c1 - c2};
    for (int k = 0; k < 4; ++k) {
      t.index[size_t(d) * 4 + k] = std::clamp(static_cast<int>(s) + k - 1, 0, src_size - 1);
      t.weight[size_t(d) * 4 + k] = static_cast<float>(c[k]);
    }
  }
  return t;
}

}  // namespace

io::ImageBuffer resize_cubic(const io::ImageView& src, int width, int height) {
  DA3_CHECK(src.channels == 3, "resize_cubic: needs an 8-bit RGB image");
  const int sw = src.width, sh = src.height;
  const Taps tx = taps(sw, width), ty = taps(sh, height);
  // Horizontal pass over every source row, kept in float32.
  std::vector<float> rows(size_t(sh) * width * 3);
  for (int y = 0; y < sh; ++y) {
    const uint8_t* s = src.row(y);
    float* r = rows.data() + size_t(y) * width * 3;
    for (int x = 0; x < width; ++x) {
      const int* i = &tx.index[size_t(x) * 4];
      const float* w = &tx.weight[size_t(x) * 4];
      for (int c = 0; c < 3; ++c) {
        float acc = float(s[i[0] * 3 + c]) * w[0];  // summed in order, as numpy / IPP do
        acc += float(s[i[1] * 3 + c]) * w[1];
        acc += float(s[i[2] * 3 + c]) * w[2];
        acc += float(s[i[3] * 3 + c]) * w[3];
        r[x * 3 + c] = acc;
      }
    }
  }
  io::ImageBuffer out(width, height, 3);
  for (int y = 0; y < height; ++y) {
    const int* i = &ty.index[size_t(y) * 4];
    const float* w = &ty.weight[size_t(y) * 4];
    const float* r0 = rows.data() + size_t(i[0]) * width * 3;
    const float* r1 = rows.data() + size_t(i[1]) * width * 3;
    const float* r2 = rows.data() + size_t(i[2]) * width * 3;
    const float* r3 = rows.data() + size_t(i[3]) * width * 3;
    uint8_t* o = out.row(y);
    for (int x = 0; x < width * 3; ++x) {
      float acc = r0[x] * w[0];
      acc += r1[x] * w[1];
      acc += r2[x] * w[2];
      acc += r3[x] * w[3];
      o[x] = static_cast<uint8_t>(std::clamp(std::nearbyint(acc), 0.0f, 255.0f));
    }
  }
  return out;
}

}  // namespace da3::pipeline
