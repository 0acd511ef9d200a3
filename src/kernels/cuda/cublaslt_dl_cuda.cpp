#include "kernels/cuda/cublaslt_dl.hpp"

#include <string>

#include "core/cuda_library.hpp"

namespace da3::kernels::cuda {

namespace {

CublasLtApi load() {
  const std::string soname = "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR);
  void* lib = load_cuda_library(soname, "the GEMMs of Linear layers on CUDA");
  CublasLtApi api{};
  cuda_library_bind(lib, soname, "cublasLtCreate", api.create);
  cuda_library_bind(lib, soname, "cublasLtMatmulDescCreate", api.desc_create);
  cuda_library_bind(lib, soname, "cublasLtMatmulDescSetAttribute", api.desc_set);
  cuda_library_bind(lib, soname, "cublasLtMatmulDescDestroy", api.desc_destroy);
  cuda_library_bind(lib, soname, "cublasLtMatrixLayoutCreate", api.layout_create);
  cuda_library_bind(lib, soname, "cublasLtMatrixLayoutDestroy", api.layout_destroy);
  cuda_library_bind(lib, soname, "cublasLtMatmulPreferenceCreate", api.pref_create);
  cuda_library_bind(lib, soname, "cublasLtMatmulPreferenceSetAttribute", api.pref_set);
  cuda_library_bind(lib, soname, "cublasLtMatmulPreferenceDestroy", api.pref_destroy);
  cuda_library_bind(lib, soname, "cublasLtMatmulAlgoGetHeuristic", api.heuristic);
  cuda_library_bind(lib, soname, "cublasLtMatmul", api.matmul);
  return api;
}

}  // namespace

const CublasLtApi& cublaslt() {
  static const CublasLtApi api = load();
  return api;
}

}  // namespace da3::kernels::cuda
