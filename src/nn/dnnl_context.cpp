#include "nn/dnnl_context.hpp"

#include <cstdlib>
#include <memory>
#include <string>

namespace da3::nn {

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::memory::desc plain_desc(const dnnl::memory::dims& dims, dnnl::memory::data_type dt) {
  dnnl::memory::dims strides(dims.size());
  dnnl::memory::dim acc = 1;
  for (int i = static_cast<int>(dims.size()) - 1; i >= 0; --i) {
    strides[i] = acc;
    acc *= dims[i];
  }
  return dnnl::memory::desc(dims, dt, strides);
}

dnnl::memory::data_type to_dnnl(DType t) {
  switch (t) {
    case DType::F32: return dnnl::memory::data_type::f32;
    case DType::BF16: return dnnl::memory::data_type::bf16;
    case DType::F16: return dnnl::memory::data_type::f16;
    default: throw Error(std::string("oneDNN: unsupported dtype ") + dtype_name(t));
  }
}

dnnl::memory thread_scratchpad(const dnnl::memory::desc& md) {
  struct Buffer {
    std::unique_ptr<void, decltype(&std::free)> p{nullptr, &std::free};
    size_t bytes = 0;
  };
  thread_local Buffer buf;
  const size_t want = std::max<size_t>(md.get_size(), 64);
  if (want > buf.bytes) {
    const size_t bytes = (want + 4095) / 4096 * 4096;
    void* p = std::aligned_alloc(4096, bytes);
    if (!p) throw Error("out of memory allocating a " + std::to_string(bytes >> 10) + " KiB oneDNN scratchpad");
    buf.p.reset(p);
    buf.bytes = bytes;
  }
  return dnnl::memory(md, cpu_engine(), buf.p.get());
}

}  // namespace da3::nn
