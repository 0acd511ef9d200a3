// 2D rotary position embedding, step for step as the reference
// (depth_anything_3/model/dinov2/layers/rope.py, RotaryPositionEmbedding2D) computes it in fp32:
//   F = D/2 features per axis; inv_freq[i] = 1 / base^(2i/F), i < F/2   (fp32, as torch)
//   angle = pos * inv_freq[i];  cos, sin in fp32
//   first half of the head dim rotated by the y position, second half by the x position;
//   within a half t of F features, with h = F/2 ("rotate half": cat(-t[h:], t[:h])):
//     t'[i]     = t[i]     * cos - t[i + h] * sin
//     t'[i + h] = t[i + h] * cos + t[i]     * sin
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "da3/attention.hpp"
#include "da3/threads.hpp"
#include "kernels/cpu/attention_rows.hpp"

#ifdef DA3_WITH_CUDA
#include "attention/cuda_path.hpp"
#endif

namespace da3 {

namespace {

int64_t position_at(const Tensor& pos, int64_t b, int64_t n, int64_t axis) {
  const bool batched = pos.dim() == 3;
  const int64_t off = (batched ? b * pos.stride(0) : 0) + n * pos.stride(-2) + axis * pos.stride(-1);
  if (pos.dtype() == DType::I64) return static_cast<const int64_t*>(pos.data())[off];
  return static_cast<const int32_t*>(pos.data())[off];
}

}  // namespace

void rope_2d_inplace(Tensor& x, const Tensor& positions, AttentionLayout layout, float base) {
  DA3_CHECK(x.defined() && x.dim() == 4, "rope_2d: x must be 4-D, got " + (x.defined() ? x.describe() : "undefined"));
  DA3_CHECK(positions.device() == Device::CPU, "rope_2d: positions must be a CPU tensor (they are read to size the "
                                                "tables), got " + positions.describe());
  DA3_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::BF16 || x.dtype() == DType::F16,
            "rope_2d: x must be f32, bf16 or f16, got " + x.describe());
  const bool bnhd = layout == AttentionLayout::BNHD;
  const int64_t B = x.size(0), N = bnhd ? x.size(1) : x.size(2), H = bnhd ? x.size(2) : x.size(1), D = x.size(3);
  DA3_CHECK(D % 4 == 0, "rope_2d: head dim must be a multiple of 4 (two halves, each rotated by halves), got " +
                            std::to_string(D));
  DA3_CHECK(x.stride(3) == 1 || D == 1, "rope_2d: x must have a contiguous head dim, got " + x.describe());
  DA3_CHECK(positions.defined() && (positions.dtype() == DType::I64 || positions.dtype() == DType::I32),
            "rope_2d: positions must be int64 or int32");
  DA3_CHECK((positions.dim() == 2 || (positions.dim() == 3 && positions.size(0) == B)) &&
                positions.size(-2) == N && positions.size(-1) == 2,
            "rope_2d: positions must be (N, 2) or (B, N, 2) with N=" + std::to_string(N) + ", B=" +
                std::to_string(B) + "; got " + positions.describe());
  const int64_t sb = x.stride(0), sn = bnhd ? x.stride(1) : x.stride(2), sh = bnhd ? x.stride(2) : x.stride(1);

  // Tables for positions 0..max, as the reference's frequency cache (fp32 throughout).
  int64_t max_pos = 0;
  for (int64_t b = 0; b < (positions.dim() == 3 ? B : 1); ++b)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t a = 0; a < 2; ++a) {
        const int64_t v = position_at(positions, b, n, a);
        DA3_CHECK(v >= 0, "rope_2d: positions must be >= 0, got " + std::to_string(v));
        max_pos = std::max(max_pos, v);
      }
  const int64_t F = D / 2, h2 = F / 2;
  std::vector<float> inv_freq(static_cast<size_t>(h2));
  for (int64_t i = 0; i < h2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(F);
    inv_freq[i] = 1.0f / std::pow(base, exponent);
  }
  std::vector<float> cos_t(static_cast<size_t>((max_pos + 1) * h2)), sin_t(cos_t.size());
  for (int64_t p = 0; p <= max_pos; ++p)
    for (int64_t i = 0; i < h2; ++i) {
      const float angle = static_cast<float>(p) * inv_freq[i];
      cos_t[p * h2 + i] = std::cos(angle);
      sin_t[p * h2 + i] = std::sin(angle);
    }
  if (x.device() == Device::CUDA) {
#ifdef DA3_WITH_CUDA
    return attn::rope_2d_cuda(x, positions, layout, cos_t, sin_t);
#else
    throw Error("rope_2d: a CUDA tensor in a build without CUDA");
#endif
  }

  const size_t esize = dtype_size(x.dtype());
  char* base_ptr = static_cast<char*>(x.data());
  const int64_t rows = B * N;
#pragma omp parallel num_threads(num_threads())
  {
    std::vector<float> t(static_cast<size_t>(D));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t b = r / N, n = r % N;
      const int64_t py = position_at(positions, b, n, 0), px = position_at(positions, b, n, 1);
      for (int64_t h = 0; h < H; ++h) {
        void* row = base_ptr + (b * sb + n * sn + h * sh) * static_cast<int64_t>(esize);
        // f32 rows are rotated where they are (a 64-float copy in and out per row and head was
        // ~1 % of an fp32 forward); bf16 / f16 through a float row.
        const bool in_place = x.dtype() == DType::F32;
        float* tr = in_place ? static_cast<float*>(row) : t.data();
        if (!in_place) kernels::load_row_f32(row, x.dtype(), D, tr);
        for (int64_t half = 0; half < 2; ++half) {
          float* th = tr + half * F;
          const int64_t p = half == 0 ? py : px;
          const float* c = &cos_t[p * h2];
          const float* s = &sin_t[p * h2];
          for (int64_t i = 0; i < h2; ++i) {
            const float a = th[i], bb = th[i + h2];
            // Two products then a sum, as (tokens * cos) + (rotate(tokens) * sin) rounds them.
            const float ac = a * c[i], bs = bb * s[i], bc = bb * c[i], as = a * s[i];
            th[i] = ac - bs;
            th[i + h2] = bc + as;
          }
        }
        if (!in_place) kernels::store_row_f32(tr, x.dtype(), D, row);
      }
    }
  }
}

Tensor rope_positions(int64_t grid_h, int64_t grid_w, int64_t num_special, bool nodiff) {
  DA3_CHECK(grid_h >= 0 && grid_w >= 0 && num_special >= 0, "rope_positions: sizes must be >= 0");
  const int64_t n = num_special + grid_h * grid_w;
  Tensor pos = Tensor::zeros({n, 2}, DType::I64);
  int64_t* p = pos.data_as<int64_t>();
  // Special tokens stay (0, 0). Patches are (y, x) in row-major order (torch.cartesian_prod),
  // shifted by one when special tokens exist so that none of them lands on (0, 0).
  const int64_t shift = num_special > 0 ? 1 : 0;
  for (int64_t y = 0; y < grid_h; ++y)
    for (int64_t xx = 0; xx < grid_w; ++xx) {
      int64_t* e = p + 2 * (num_special + y * grid_w + xx);
      e[0] = nodiff ? shift : y + shift;
      e[1] = nodiff ? shift : xx + shift;
    }
  return pos;
}

}  // namespace da3
