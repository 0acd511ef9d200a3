#include "kernels/cuda/cublaslt_dl.hpp"

#include <string>

#include "core/cuda_library.hpp"

namespace da3::kernels::cuda {

namespace {

template <typename Fn>
void bind(void* lib, const char* symbol, Fn& fn, const std::string& soname) {
  fn = reinterpret_cast<Fn>(cuda_library_symbol(lib, soname, symbol));
}

CublasLtApi load() {
  const std::string soname = "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR);
  void* lib = load_cuda_library(soname, "the GEMMs of Linear layers on CUDA");
  CublasLtApi api{};
  bind(lib, "cublasLtCreate", api.create, soname);
  bind(lib, "cublasLtMatmulDescCreate", api.desc_create, soname);
  bind(lib, "cublasLtMatmulDescSetAttribute", api.desc_set, soname);
  bind(lib, "cublasLtMatmulDescDestroy", api.desc_destroy, soname);
  bind(lib, "cublasLtMatrixLayoutCreate", api.layout_create, soname);
  bind(lib, "cublasLtMatrixLayoutDestroy", api.layout_destroy, soname);
  bind(lib, "cublasLtMatmulPreferenceCreate", api.pref_create, soname);
  bind(lib, "cublasLtMatmulPreferenceSetAttribute", api.pref_set, soname);
  bind(lib, "cublasLtMatmulPreferenceDestroy", api.pref_destroy, soname);
  bind(lib, "cublasLtMatmulAlgoGetHeuristic", api.heuristic, soname);
  bind(lib, "cublasLtMatmul", api.matmul, soname);
  return api;
}

}  // namespace

const CublasLtApi& cublaslt() {
  static const CublasLtApi api = load();
  return api;
}

}  // namespace da3::kernels::cuda
