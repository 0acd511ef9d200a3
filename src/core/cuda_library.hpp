#pragma once
// Finding a CUDA vendor library (cuBLAS, cuBLASLt, cuDNN) at run time. These are not linked and
// not bundled: they are hundreds of MB, every CUDA machine has them somewhere, and CPU-only runs
// should not pay their load cost. Where "somewhere" is differs by machine, so the search is
// explicit and the error lists every folder that was tried.
#include <string>
#include <vector>

namespace da3 {

// The folders searched, in order, after the dynamic loader's own search (LD_LIBRARY_PATH,
// ldconfig's cache, the binary's rpath):
//   $DA3_CUDA_LIB_DIRS (colon-separated), $CUDA_HOME/lib64, $CUDA_PATH/lib64, /usr/local/cuda/lib64,
//   /usr/local/cuda-*/lib64 (newest first), and the nvidia-* wheels of any Python found through
//   $VIRTUAL_ENV, $CONDA_PREFIX, /usr/lib, /usr/local/lib, /opt/conda/lib and ~/.local/lib
//   (site-packages/nvidia/*/lib, site-packages/nvidia/cu*/lib).
std::vector<std::string> cuda_library_dirs();

// dlopen()s `soname` (e.g. "libcublasLt.so.13") with RTLD_NOW | RTLD_GLOBAL, trying the loader's
// default search first and then each folder above. Throws da3::Error naming the library, what it
// is needed for (`purpose`), every folder searched and how to point at another one.
void* load_cuda_library(const std::string& soname, const std::string& purpose);

// Resolves `symbol` in a library from load_cuda_library(); throws naming both when it is missing.
void* cuda_library_symbol(void* lib, const std::string& soname, const char* symbol);
// The same, stored into a typed function pointer.
template <typename Fn>
void cuda_library_bind(void* lib, const std::string& soname, const char* symbol, Fn& fn) {
  fn = reinterpret_cast<Fn>(cuda_library_symbol(lib, soname, symbol));
}

}  // namespace da3
