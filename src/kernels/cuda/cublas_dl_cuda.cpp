#include "kernels/cuda/cublas_dl.hpp"

#include <string>

#include "core/cuda_library.hpp"
#include "da3/error.hpp"

namespace da3::kernels::cuda {

namespace {

template <typename Fn>
void bind(void* lib, const char* symbol, Fn& fn, const std::string& soname) {
  fn = reinterpret_cast<Fn>(cuda_library_symbol(lib, soname, symbol));
}

CublasApi load() {
  // The major version the headers were compiled against: its soname is ABI-compatible.
  const std::string soname = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  void* lib = load_cuda_library(soname, "the sdpa attention backend on CUDA; DA3_ATTENTION_BACKEND=flash_attn or "
                                        "manual do not use it");
  CublasApi api{};
  bind(lib, "cublasCreate_v2", api.create, soname);
  bind(lib, "cublasDestroy_v2", api.destroy, soname);
  bind(lib, "cublasSetStream_v2", api.set_stream, soname);
  bind(lib, "cublasSgemmStridedBatched", api.sgemm_strided_batched, soname);
  return api;  // the library stays loaded for the life of the process, like a linked one
}

}  // namespace

const CublasApi& cublas() {
  static const CublasApi api = load();  // a failed load throws and is retried on the next call
  return api;
}

}  // namespace da3::kernels::cuda
