#include "kernels/cuda/cublas_dl.hpp"

#include <dlfcn.h>

#include <string>

#include "da3/error.hpp"

namespace da3::kernels::cuda {

namespace {

template <typename Fn>
void bind(void* lib, const char* symbol, Fn& fn, const std::string& soname) {
  fn = reinterpret_cast<Fn>(dlsym(lib, symbol));
  if (!fn)
    throw Error("attention (sdpa, cuda): " + soname + " has no symbol " + symbol +
                " (a cuBLAS older than the toolkit this build used?)");
}

CublasApi load() {
  // The major version the headers were compiled against: its soname is ABI-compatible.
  const std::string soname = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  void* lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    throw Error("attention (sdpa, cuda): cannot load " + soname + " (" + (why ? why : "unknown reason") +
                "); install the CUDA " + std::to_string(CUBLAS_VER_MAJOR) +
                " cuBLAS runtime (or add its directory to LD_LIBRARY_PATH), or pick "
                "DA3_ATTENTION_BACKEND=flash_attn or manual, which do not use cuBLAS");
  }
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
