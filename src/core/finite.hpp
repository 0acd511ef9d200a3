#pragma once
// Finite-value checks for the places that already read a tensor's values: a NaN or Inf weight
// (or input) otherwise flows silently through the network (a NaN-filled weight gave depth 1.0
// everywhere). Weights are checked only where load or packing already reads them (conversions,
// folds, convolution packs): a separate pass over the mapped checkpoint would fault in every
// page and undo the load-time and resident-memory savings of reading it in place.
#include <cstddef>
#include <string>

#include "da3/tensor.hpp"

namespace da3::detail {

bool all_finite(const float* p, size_t n);
// Throws da3::Error "<what> holds non-finite values (NaN or Inf) ..." for a CPU f32 tensor
// (any strides) that does; `remedy` ends the message (what the user can do about it).
void check_finite(const Tensor& t, const std::string& what, const std::string& remedy);
// The weight version: names the checkpoint tensor.
void check_finite_weight(const Tensor& t, const std::string& name);

}  // namespace da3::detail
