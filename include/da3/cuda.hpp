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

// Work on CUDA tensors is queued on one stream and returns before it has run; this waits for all
// of it (for timing, or before reading device memory by other means than Tensor copies, which
// wait by themselves) and throws da3::Error when a kernel failed. A no-op without CUDA.
void cuda_synchronize();

// Makes cuda:N the device this thread's CUDA work runs on. Throws da3::Error naming the devices
// there are when N is out of range, and saying why when there is no usable CUDA at all.
void cuda_set_device(int index);

}  // namespace da3
