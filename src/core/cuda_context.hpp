#pragma once
// The CUDA state every CUDA body shares: the stream all da3 work is queued on (one per process and
// device; work on one stream needs no events between ops, and freed memory can be reused at once
// in stream order), and the error check that turns a CUDA status into a da3::Error.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>

namespace da3::cuda {

// The stream of the current device (created on first use, non-blocking with respect to the
// legacy default stream).
cudaStream_t stream();
// Throws da3::Error "<what>: <CUDA's message>" unless e is cudaSuccess.
void check(cudaError_t e, const std::string& what);
// Waits for everything queued on stream() and turns an asynchronous kernel fault into an error.
void synchronize(const std::string& what);

// The caching allocator's counters (for `da3 bench model` and tests).
struct MemoryStats {
  size_t in_use = 0;     // bytes handed out and not yet freed
  size_t cached = 0;     // bytes freed and kept for reuse
  size_t peak = 0;       // highest in_use
  size_t device_allocs = 0;  // cudaMalloc calls so far
};
MemoryStats memory_stats();
// Gives every cached block back to the driver.
void release_cached_memory();

}  // namespace da3::cuda
