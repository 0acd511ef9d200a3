#pragma once
// cuBLAS entry points resolved with dlopen on first use instead of linked: libcublasLt's load-time
// relocations alone cost ~210 MB of resident memory and ~80 ms at every process start (measured
// with an empty program linked to -lcublas), a price CPU-only runs should not pay.
#include <cublas_v2.h>

namespace da3::kernels::cuda {

struct CublasApi {
  cublasStatus_t (*create)(cublasHandle_t*);
  cublasStatus_t (*destroy)(cublasHandle_t);
  cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
  cublasStatus_t (*sgemm_strided_batched)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                          const float*, const float*, int, long long, const float*, int, long long,
                                          const float*, float*, int, long long, int);
};

// Loads libcublas the first time (thread-safe); throws da3::Error saying what to install or
// which backend to use instead when it cannot be loaded.
const CublasApi& cublas();

}  // namespace da3::kernels::cuda
