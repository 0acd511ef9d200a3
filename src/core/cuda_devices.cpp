#include "da3/cuda.hpp"

#ifdef DA3_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace da3 {

namespace {

struct Probe {
  std::vector<CudaDevice> devices;
  std::string status;
};

const Probe& probe() {
  static const Probe p = [] {
    Probe r;
#ifdef DA3_WITH_CUDA
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      r.status = std::string("built with CUDA; no usable device (") + cudaGetErrorString(err) + ")";
      return r;
    }
    for (int i = 0; i < n; ++i) {
      cudaDeviceProp prop{};
      if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
      r.devices.push_back({i, prop.name, prop.major, prop.minor, prop.totalGlobalMem});
    }
    r.status = "built with CUDA; " + std::to_string(r.devices.size()) + " device(s)";
#else
    r.status = "built without CUDA";
#endif
    return r;
  }();
  return p;
}

}  // namespace

const std::vector<CudaDevice>& cuda_devices() { return probe().devices; }
std::string cuda_status() { return probe().status; }

}  // namespace da3
