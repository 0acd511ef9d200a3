#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace da3 {

struct CudaDevice {
  int index = 0;
  std::string name;
  int cc_major = 0;
  int cc_minor = 0;
  size_t memory_bytes = 0;
};

// The CUDA devices this process can use: empty when built without CUDA or when no GPU/driver
// is present. cuda_status() says which, in words, for `da3 info` and error messages.
const std::vector<CudaDevice>& cuda_devices();
std::string cuda_status();

}  // namespace da3
