#pragma once
// Mirrors depth_anything_3/model/reference_view_selector.py: picks the reference view from the
// cls tokens of S >= 3 views, and the reorder / restore around it.
#include <cstdint>
#include <string>
#include <vector>

#include "da3/tensor.hpp"

namespace da3::model {

enum class RefViewStrategy { First, Middle, SaddleBalanced, SaddleSimRange };
RefViewStrategy parse_ref_view_strategy(const std::string& s);  // throws listing the valid names
const char* ref_view_strategy_name(RefViewStrategy s);

// x: (B, S, N, C). Returns the chosen view index per batch item.
std::vector<int64_t> select_reference_view(const Tensor& x, RefViewStrategy strategy);
// Moves view b_idx[b] first, keeping the others in order: [r, 0, 1, .., r-1, r+1, ..].
Tensor reorder_by_reference(const Tensor& x, const std::vector<int64_t>& b_idx);
// The inverse of reorder_by_reference.
Tensor restore_original_order(const Tensor& x, const std::vector<int64_t>& b_idx);
// Where view s of the original order sits after reorder_by_reference moved view r first (what
// restore_original_order reads for it).
inline int64_t reordered_index(int64_t s, int64_t r) { return s == r ? 0 : (s < r ? s + 1 : s); }

}  // namespace da3::model
