#pragma once
// Where Tensor storage comes from. Blocks of 1 MiB and more are mapped directly from the OS and,
// when freed, kept in a small cache keyed by size, because a forward pass allocates the same
// sizes on every run: the second run then finds its buffers already mapped and faulted in (no
// page-fault and page-zeroing cost, no glibc heap growth from fragmentation between runs).
#include <cstddef>
#include <memory>

namespace da3::detail {

// 64-byte aligned, uninitialised. Throws da3::Error when the OS refuses.
std::shared_ptr<void> allocate_host(size_t bytes);

}  // namespace da3::detail
