#include "kernels/cuda/cublas_dl.hpp"

#include <string>

#include "core/cuda_library.hpp"
#include "da3/error.hpp"

namespace da3::kernels::cuda {

namespace {

CublasApi load() {
  // The major version the headers were compiled against: its soname is ABI-compatible.
  const std::string soname = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  void* lib = load_cuda_library(soname, "the sdpa attention backend on CUDA; DA3_ATTENTION_BACKEND=flash_attn or "
                                        "manual do not use it");
  CublasApi api{};
  cuda_library_bind(lib, soname, "cublasCreate_v2", api.create);
  cuda_library_bind(lib, soname, "cublasDestroy_v2", api.destroy);
  cuda_library_bind(lib, soname, "cublasSetStream_v2", api.set_stream);
  cuda_library_bind(lib, soname, "cublasSgemmStridedBatched", api.sgemm_strided_batched);
  return api;  // the library stays loaded for the life of the process, like a linked one
}

}  // namespace

const CublasApi& cublas() {
  static const CublasApi api = load();  // a failed load throws and is retried on the next call
  return api;
}

}  // namespace da3::kernels::cuda
