#pragma once
// The process-wide oneDNN CPU engine. Streams are cheap; each call makes its own so that ops
// may run from any thread.
#include <oneapi/dnnl/dnnl.hpp>

#include "da3/tensor.hpp"

namespace da3::nn {

dnnl::engine& cpu_engine();

// A oneDNN memory descriptor for a contiguous tensor of the given dims (f32 unless told).
dnnl::memory::desc plain_desc(const dnnl::memory::dims& dims, dnnl::memory::data_type dt = dnnl::memory::data_type::f32);

dnnl::memory::data_type to_dnnl(DType t);

// Scratch memory for one primitive execution on the calling thread, shared by every primitive
// created with scratchpad_mode::user. Debian's oneDNN is built for concurrent execution, where
// each primitive otherwise owns its scratchpad for as long as it lives: DA3-SMALL's 24 matmuls
// with post-ops kept 34 MiB of M x N accumulators that way. Valid until the thread's next call.
dnnl::memory thread_scratchpad(const dnnl::memory::desc& md);

}  // namespace da3::nn
