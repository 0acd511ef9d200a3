// cuBLASLt in row-major terms: cuBLASLt is column-major, and a row-major (m, n) matrix is the
// column-major (n, m) one. So y = x·wᵀ is computed as yᶜ (n, m) = op(wᶜ) · xᶜ with wᶜ the (k, n)
// column-major view of w transposed (op T) and xᶜ the (k, m) view of x: no copies. The bias is
// the BIAS epilogue (one value per row of yᶜ = per output feature); the residual add is beta = 1
// with C = D = y.
#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "core/cuda_context.hpp"
#include "core/device_memory.hpp"
#include "da3/error.hpp"
#include "kernels/cuda/cublaslt_dl.hpp"
#include "kernels/cuda/gemm.hpp"

namespace da3::kernels::cuda {

namespace {

constexpr size_t kWorkspace = size_t(32) << 20;

void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string("Linear (cuda): cuBLASLt ") + what + " failed with status " + std::to_string(int(s)));
}

cudaDataType_t cuda_type(DType dt) {
  switch (dt) {
    case DType::F32: return CUDA_R_32F;
    case DType::BF16: return CUDA_R_16BF;
    case DType::F16: return CUDA_R_16F;
    default: throw Error(std::string("Linear (cuda): no GEMM for dtype ") + dtype_name(dt));
  }
}

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

using Key = std::tuple<int64_t, int64_t, int64_t, int, bool, bool, int>;  // m, n, k, dtype, bias, accumulate, device

struct State {
  std::mutex mu;
  cublasLtHandle_t handle = nullptr;
  std::map<Key, Plan> plans;
  std::map<int, std::shared_ptr<void>> workspace;  // per device
};

State& state() {
  static auto* s = new State();  // never destroyed (plans may be in use at exit)
  return *s;
}

Plan make_plan(State& st, const Key& key, DType dt) {
  const auto& lt = cublaslt();
  const auto [m, n, k, dti, bias, acc, dev] = key;
  const cudaDataType_t t = cuda_type(dt);
  Plan p;
  check(lt.desc_create(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "MatmulDescCreate");
  const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  check(lt.desc_set(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT), "set TRANSA");
  check(lt.desc_set(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN), "set TRANSB");
  const cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  check(lt.desc_set(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "set EPILOGUE");
  check(lt.layout_create(&p.a, t, uint64_t(k), uint64_t(n), k), "layout w");
  check(lt.layout_create(&p.b, t, uint64_t(k), uint64_t(m), k), "layout x");
  check(lt.layout_create(&p.c, t, uint64_t(n), uint64_t(m), n), "layout y");
  cublasLtMatmulPreference_t pref = nullptr;
  check(lt.pref_create(&pref), "PreferenceCreate");
  const uint64_t ws = kWorkspace;
  check(lt.pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws), "set workspace");
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t hs = lt.heuristic(st.handle, p.desc, p.a, p.b, p.c, p.c, pref, 1, &result, &found);
  lt.pref_destroy(pref);
  if (hs != CUBLAS_STATUS_SUCCESS || found == 0)
    throw Error("Linear (cuda): cuBLASLt has no algorithm for a " + std::string(dtype_name(dt)) + " GEMM of " +
                std::to_string(m) + "x" + std::to_string(k) + " by " + std::to_string(k) + "x" + std::to_string(n));
  p.algo = result.algo;
  (void)dti;
  (void)acc;
  (void)dev;
  return p;
}

}  // namespace

void gemm_bias(const void* x, const void* w, const void* bias, void* y, DType dt, int64_t m, int64_t n, int64_t k,
               bool accumulate, cudaStream_t stream) {
  if (m == 0 || n == 0) return;
  const auto& lt = cublaslt();
  State& st = state();
  int dev = 0;
  da3::cuda::check(cudaGetDevice(&dev), "cudaGetDevice");
  std::lock_guard<std::mutex> lock(st.mu);
  if (!st.handle) check(lt.create(&st.handle), "Create");
  auto& ws = st.workspace[dev];
  if (!ws) ws = detail::allocate_device(kWorkspace);
  const Key key{m, n, k, int(dt), bias != nullptr, accumulate, dev};
  auto it = st.plans.find(key);
  if (it == st.plans.end()) it = st.plans.emplace(key, make_plan(st, key, dt)).first;
  Plan& p = it->second;
  if (bias) check(lt.desc_set(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias), "set BIAS_POINTER");
  const float alpha = 1.f, beta = accumulate ? 1.f : 0.f;
  check(lt.matmul(st.handle, p.desc, &alpha, w, p.a, x, p.b, &beta, y, p.c, y, p.c, &p.algo, ws.get(), kWorkspace,
                  stream),
        "Matmul");
}

}  // namespace da3::kernels::cuda
