#pragma once
// Read-only, private file mappings (the checkpoint files) whose resident pages can be dropped at
// any time: nothing was ever written to them, so a later read faults the same bytes back in from
// the file. Layers that read their weights from the mapping once, to build their own layout
// (oneDNN convolution packs, Winograd transforms), drop the pages they read afterwards, so the
// file's copy does not stay resident next to theirs.
#include <cstddef>

namespace da3::detail {

void register_droppable_mapping(const void* base, size_t bytes);
void unregister_droppable_mapping(const void* base);

// Drops the resident pages covering [p, p + bytes) when the range lies inside a registered
// mapping (rounded out to whole pages, clipped to the mapping); returns false, touching nothing,
// for any other memory (an owned tensor's pages would be zeroed).
bool drop_file_pages(const void* p, size_t bytes);

}  // namespace da3::detail
