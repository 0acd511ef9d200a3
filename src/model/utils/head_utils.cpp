#include "model/utils/head_utils.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <vector>

namespace da3::model {

namespace {

// torch.linspace for float32: the step in float, the first half counted from `start` and the
// second half from `end` (so both ends are exact).
std::vector<float> linspace(float start, float end, int64_t steps) {
  std::vector<float> v(static_cast<size_t>(steps));
  if (steps == 1) {
    v[0] = start;
    return v;
  }
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int64_t halfway = steps / 2;
  for (int64_t i = 0; i < steps; ++i)
    v[i] = i < halfway ? start + step * static_cast<float>(i) : end - step * static_cast<float>(steps - i - 1);
  return v;
}

}  // namespace

Tensor create_uv_grid(int64_t width, int64_t height, double aspect_ratio) {
  DA3_CHECK(width > 0 && height > 0, "create_uv_grid: sizes must be positive");
  // The spans are Python floats (double); linspace then works in the tensor's float32.
  const double diag = std::sqrt(aspect_ratio * aspect_ratio + 1.0);
  const double span_x = aspect_ratio / diag, span_y = 1.0 / diag;
  const double wx = static_cast<double>(width - 1) / static_cast<double>(width);
  const double wy = static_cast<double>(height - 1) / static_cast<double>(height);
  const std::vector<float> xs = linspace(static_cast<float>(-span_x * wx), static_cast<float>(span_x * wx), width);
  const std::vector<float> ys = linspace(static_cast<float>(-span_y * wy), static_cast<float>(span_y * wy), height);
  Tensor g = Tensor::empty({height, width, 2});
  float* p = g.data_as<float>();
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x) {
      p[(y * width + x) * 2] = xs[x];
      p[(y * width + x) * 2 + 1] = ys[y];
    }
  return g;
}

Tensor position_grid_to_embed(const Tensor& grid, int64_t embed_dim, float omega_0) {
  DA3_CHECK(grid.dim() == 3 && grid.size(2) == 2 && grid.dtype() == DType::F32,
            "position_grid_to_embed: grid must be (h, w, 2) f32, got " + grid.describe());
  // Each axis gets embed_dim / 2 channels, half sines and half cosines.
  DA3_CHECK(embed_dim > 0 && embed_dim % 4 == 0,
            "position_grid_to_embed: the UV position embedding needs a channel count divisible by 4, got " +
                std::to_string(embed_dim));
  const Tensor gc = grid.contiguous();
  const int64_t h = gc.size(0), w = gc.size(1), half = embed_dim / 2, quarter = embed_dim / 4;
  std::vector<float> omega(static_cast<size_t>(quarter));
  for (int64_t j = 0; j < quarter; ++j) {
    const float e = static_cast<float>(j) / static_cast<float>(half / 2.0);
    omega[j] = 1.f / std::pow(omega_0, e);
  }
  Tensor out = Tensor::empty({h, w, embed_dim});
  const float* g = gc.data_as<float>();
  float* o = out.data_as<float>();
  #pragma omp parallel for schedule(static) if (h * w * embed_dim > 65536)
  for (int64_t i = 0; i < h * w; ++i) {
    for (int axis = 0; axis < 2; ++axis) {
      const float pos = g[i * 2 + axis];
      float* dst = o + i * embed_dim + axis * half;
      for (int64_t j = 0; j < quarter; ++j) {
        const float a = pos * omega[j];
        dst[j] = std::sin(a);
        dst[quarter + j] = std::cos(a);
      }
    }
  }
  return out;
}

const std::pair<Tensor, Tensor>& UvPosEmbed::get(int64_t h, int64_t w, int64_t c, int64_t W, int64_t H,
                                                  float ratio) const {
  std::lock_guard<std::mutex> lk(cache_->mu);
  const Key key{h, w, c, W, H, ratio};
  auto it = cache_->entries.find(key);
  if (it != cache_->entries.end()) return it->second;  // std::map nodes stay put: the reference stays valid
  // The first row and the first column of the grid carry every u and every v; embedding them with
  // the same function as the full map gives the same values.
  const Tensor grid = create_uv_grid(w, h, static_cast<double>(W) / static_cast<double>(H));
  const Tensor cols = position_grid_to_embed(grid.slice(0, 0, 1), c);  // (1, w, c)
  const Tensor rows = position_grid_to_embed(grid.slice(1, 0, 1), c);  // (h, 1, c)
  const int64_t half = c / 2;
  Tensor ct = Tensor::empty({w, half}), rt = Tensor::empty({h, half});
  for (int64_t x = 0; x < w; ++x)
    for (int64_t j = 0; j < half; ++j) ct.data_as<float>()[x * half + j] = cols.data_as<float>()[x * c + j] * ratio;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t j = 0; j < half; ++j)
      rt.data_as<float>()[y * half + j] = rows.data_as<float>()[y * c + half + j] * ratio;
  return cache_->entries.emplace(key, std::make_pair(std::move(ct), std::move(rt))).first->second;
}

void UvPosEmbed::add_(Tensor& x, int64_t W, int64_t H, float ratio) const {
  DA3_CHECK(x.dim() == 4, "add_pos_embed: expects a contiguous NHWC f32 tensor, got " + x.describe());
  add_rows_(x, 0, x.size(1), W, H, ratio);
}

void UvPosEmbed::add_rows_(Tensor& x, int64_t row0, int64_t full_h, int64_t W, int64_t H, float ratio) const {
  DA3_CHECK(x.dim() == 4 && x.dtype() == DType::F32 && x.is_contiguous(),
            "add_pos_embed: expects a contiguous NHWC f32 tensor, got " + x.describe());
  const int64_t n = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3), half = c / 2;
  const auto& [cols, rows] = get(full_h, w, c, W, H, ratio);
  const float* ct = cols.data_as<float>();
  const float* rt = rows.data_as<float>();
  float* xp = x.data_as<float>();
  #pragma omp parallel for collapse(2) schedule(static) if (n * h * w * c > 65536)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t y = 0; y < h; ++y) {
      const int64_t my = row0 + y;
      if (my < 0 || my >= full_h) continue;
      float* row = xp + ((b * h + y) * w) * c;
      const float* r = rt + my * half;
      for (int64_t xx = 0; xx < w; ++xx) {
        float* px = row + xx * c;
        const float* cc = ct + xx * half;
        for (int64_t j = 0; j < half; ++j) px[j] += cc[j];
        for (int64_t j = 0; j < half; ++j) px[half + j] += r[j];
      }
    }
}

HeadActivation parse_head_activation(const std::string& name, const std::string& where) {
  std::string s = name;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (s == "exp") return HeadActivation::Exp;
  if (s == "expp1") return HeadActivation::Expp1;
  if (s == "expm1") return HeadActivation::Expm1;
  if (s == "relu") return HeadActivation::Relu;
  if (s == "sigmoid") return HeadActivation::Sigmoid;
  if (s == "softplus") return HeadActivation::Softplus;
  if (s == "tanh") return HeadActivation::Tanh;
  if (s == "linear") return HeadActivation::Linear;
  throw Error(where + ": unknown activation '" + name +
              "'; expected one of exp, expp1, expm1, relu, sigmoid, softplus, tanh, linear");
}

float apply_head_activation(HeadActivation a, float x) {
  switch (a) {
    case HeadActivation::Exp:
      return std::exp(x);
    case HeadActivation::Expp1:
      return std::exp(x) + 1.f;
    case HeadActivation::Expm1:
      return std::expm1(x);
    case HeadActivation::Relu:
      return x > 0.f ? x : 0.f;
    case HeadActivation::Sigmoid:
      return 1.f / (1.f + std::exp(-x));
    case HeadActivation::Softplus:
      return x > 20.f ? x : std::log1p(std::exp(x));  // torch's threshold 20
    case HeadActivation::Tanh:
      return std::tanh(x);
    case HeadActivation::Linear:
      return x;
  }
  return x;
}

}  // namespace da3::model
