#pragma once
// Mirrors depth_anything_3/model/utils/head_utils.py (the UV positional embedding) and the
// heads' shared helpers _add_pos_embed and _apply_activation_single, for NHWC feature maps.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "da3/tensor.hpp"

namespace da3::model {

// create_uv_grid(width, height, aspect_ratio): (height, width, 2) of (u, v), spanning
// +-aspect/diag horizontally and +-1/diag vertically (diag = sqrt(aspect² + 1)), pixel centres.
Tensor create_uv_grid(int64_t width, int64_t height, double aspect_ratio);
// position_grid_to_embed(grid (h, w, 2), embed_dim): (h, w, embed_dim) =
// [sin(u·ω), cos(u·ω), sin(v·ω), cos(v·ω)], ω_j = 1 / omega_0^(j / (embed_dim / 4)).
Tensor position_grid_to_embed(const Tensor& grid, int64_t embed_dim, float omega_0 = 100.f);

// DPT/DualDPT._add_pos_embed: x (N, h, w, C) += ratio · embedding of the (w, h) UV grid with the
// image's aspect ratio W / H. The first C/2 channels depend only on the column and the last C/2
// only on the row, so what is kept per (h, w, C, W, H, ratio) is a (w, C/2) and an (h, C/2)
// table, not an (h, w, C) map (24 MB at 504x378 with 32 channels); copies of a UvPosEmbed share
// that cache.
class UvPosEmbed {
 public:
  void add_(Tensor& x, int64_t W, int64_t H, float ratio = 0.1f) const;
  // The same for a band of rows of a full_h-row map: band row r is map row row0 + r; rows outside
  // the map are left untouched (they are a convolution's zero padding).
  void add_rows_(Tensor& band, int64_t row0, int64_t full_h, int64_t W, int64_t H, float ratio = 0.1f) const;

 private:
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, float>;
  struct Cache {
    std::mutex mu;
    std::map<Key, std::pair<Tensor, Tensor>> entries;  // (w, C/2) by column, (h, C/2) by row
  };
  const std::pair<Tensor, Tensor>& get(int64_t h, int64_t w, int64_t c, int64_t W, int64_t H, float ratio) const;
  std::shared_ptr<Cache> cache_ = std::make_shared<Cache>();
};

// The heads' _apply_activation_single (and DPT's sky activation, a subset of it). The
// reference silently treats an unknown name as "linear"; we refuse it instead, since it can
// only be a typo in a config.
enum class HeadActivation { Exp, Expp1, Expm1, Relu, Sigmoid, Softplus, Tanh, Linear };
HeadActivation parse_head_activation(const std::string& name, const std::string& where);
float apply_head_activation(HeadActivation a, float x);

}  // namespace da3::model
