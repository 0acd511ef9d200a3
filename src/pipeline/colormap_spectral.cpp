#include "pipeline/colormap_spectral.hpp"

#include <algorithm>
#include <cmath>

namespace da3::pipeline {

namespace {

// matplotlib/_cm.py _Spectral_data (ColorBrewer "Spectral", 11 classes), from red to blue.
constexpr double kSpectral[11][3] = {
    {0.61960784313725492, 0.003921568627450980, 0.25882352941176473},
    {0.83529411764705885, 0.24313725490196078, 0.30980392156862746},
    {0.95686274509803926, 0.42745098039215684, 0.2627450980392157},
    {0.99215686274509807, 0.68235294117647061, 0.38039215686274508},
    {0.99607843137254903, 0.8784313725490196, 0.54509803921568623},
    {1.0, 1.0, 0.74901960784313726},
    {0.90196078431372551, 0.96078431372549022, 0.59607843137254901},
    {0.6705882352941176, 0.8666666666666667, 0.64313725490196083},
    {0.4, 0.76078431372549016, 0.6470588235294118},
    {0.19607843137254902, 0.53333333333333333, 0.74117647058823533},
    {0.36862745098039218, 0.30980392156862746, 0.63529411764705879},
};

// matplotlib.colors._create_lookup_table for LinearSegmentedColormap.from_list(colors, N=256),
// with numpy's linspace arithmetic, so every entry is the same double matplotlib computes.
std::array<std::array<uint8_t, 3>, 256> build() {
  constexpr int N = 256, K = 11;
  double x[K];
  for (int i = 0; i < K; ++i) x[i] = (i == K - 1 ? 1.0 : i * (1.0 / (K - 1))) * (N - 1);
  std::array<std::array<uint8_t, 3>, 256> table{};
  for (int j = 0; j < N; ++j) {
    const double xind = (N - 1) * (j == N - 1 ? 1.0 : j * (1.0 / (N - 1)));
    for (int c = 0; c < 3; ++c) {
      double v;
      if (j == 0) {
        v = kSpectral[0][c];
      } else if (j == N - 1) {
        v = kSpectral[K - 1][c];
      } else {
        const int ind = static_cast<int>(std::lower_bound(x, x + K, xind) - x);  // np.searchsorted, side='left'
        const double distance = (xind - x[ind - 1]) / (x[ind] - x[ind - 1]);
        v = distance * (kSpectral[ind][c] - kSpectral[ind - 1][c]) + kSpectral[ind - 1][c];
      }
      v = std::clamp(v, 0.0, 1.0);
      table[j][c] = static_cast<uint8_t>(v * 255.0);  // visualize_depth: (rgb * 255).astype(uint8)
    }
  }
  return table;
}

}  // namespace

const std::array<std::array<uint8_t, 3>, 256>& spectral_table_u8() {
  static const auto table = build();
  return table;
}

int spectral_index(float x) {
  if (std::isnan(x)) return -1;
  float xa = x * 256.0f;
  if (xa == 256.0f) xa = 255.0f;
  return std::clamp(static_cast<int>(xa), 0, 255);
}

}  // namespace da3::pipeline
