#include "da3/cuda.hpp"

#include "da3/error.hpp"

#ifdef DA3_WITH_CUDA
#include <cuda_runtime_api.h>

#include "core/cuda_context.hpp"
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

void cuda_synchronize() {
#ifdef DA3_WITH_CUDA
  if (!cuda_devices().empty()) cuda::synchronize("CUDA work");
#endif
}

void cuda_set_device(int index) {
  const auto& devs = cuda_devices();
  if (devs.empty()) throw Error("--device cuda:" + std::to_string(index) + ": no usable GPU (" + cuda_status() + ")");
  if (index < 0 || index >= static_cast<int>(devs.size())) {
    std::string names;
    for (const CudaDevice& d : devs) names += (names.empty() ? "" : ", ") + ("cuda:" + std::to_string(d.index)) + " " + d.name;
    throw Error("--device cuda:" + std::to_string(index) + ": no such GPU; this machine has " + names);
  }
#ifdef DA3_WITH_CUDA
  cuda::check(cudaSetDevice(index), "cudaSetDevice(" + std::to_string(index) + ")");
#endif
}

}  // namespace da3
