#pragma once
// Where Tensor storage comes from. Blocks of 64 KiB and more come from an arena of large reserved
// mappings whose freed ranges stay faulted in (up to DA3_TENSOR_CACHE_MB) and serve any later
// request that fits: repeated forward passes pay no page faults or zeroing, and the resident
// footprint follows the peak of live tensors. Smaller blocks come from malloc.
#include <cstddef>
#include <memory>

namespace da3::detail {

// 64-byte aligned, uninitialised. Throws da3::Error when the OS refuses.
std::shared_ptr<void> allocate_host(size_t bytes);

// The same for data that lives as long as a model (weights packed on a layer's first forward):
// a mapping of its own, never the arena, so packing in the middle of a forward pass does not
// leave long-lived blocks between the activations' ranges (measured: +8 MB of peak RSS on
// DA3-SMALL fp32 when the packs came from the arena). Counted with the tensors.
std::shared_ptr<void> allocate_host_lasting(size_t bytes);

}  // namespace da3::detail
