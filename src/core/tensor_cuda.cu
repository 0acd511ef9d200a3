// Tensor copies and fills that touch CUDA memory: one strided kernel (any rank up to 8, any
// strides, float dtypes converted on the way, other dtypes copied as they are), and host <-> device
// transfers through contiguous staging on the side that needs it.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>

#include "core/cuda_context.hpp"
#include "core/cuda_dtype.cuh"
#include "core/device_memory.hpp"
#include "da3/error.hpp"

namespace da3::detail {

namespace {

constexpr int kMaxDims = 8;

struct Strided {
  void* data;
  DType dtype;
  int64_t strides[kMaxDims];
};

struct Geometry {
  int ndim;
  int64_t sizes[kMaxDims];
  int64_t numel;
};

// Element offset of linear index i in a row-major walk of `g`, through `strides`.
__device__ __forceinline__ int64_t offset_of(int64_t i, const Geometry& g, const int64_t* strides) {
  int64_t off = 0;
  for (int d = g.ndim - 1; d >= 0; --d) {
    const int64_t s = g.sizes[d];
    off += (i % s) * strides[d];
    i /= s;
  }
  return off;
}

__global__ void copy_convert(Strided dst, Strided src, Geometry g) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < g.numel; i += int64_t(gridDim.x) * blockDim.x)
    cuda::st(dst.data, dst.dtype, offset_of(i, g, dst.strides), cuda::ld(src.data, src.dtype, offset_of(i, g, src.strides)));
}

template <class T>
__global__ void copy_raw(Strided dst, Strided src, Geometry g) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < g.numel; i += int64_t(gridDim.x) * blockDim.x)
    static_cast<T*>(dst.data)[offset_of(i, g, dst.strides)] = static_cast<const T*>(src.data)[offset_of(i, g, src.strides)];
}

__global__ void fill_kernel(Strided t, Geometry g, float v) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < g.numel; i += int64_t(gridDim.x) * blockDim.x)
    cuda::st(t.data, t.dtype, offset_of(i, g, t.strides), v);
}

bool float_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

Geometry geometry(const Tensor& t) {
  DA3_CHECK(t.dim() <= kMaxDims, "CUDA copy: at most 8 dimensions, got " + t.describe());
  Geometry g{};
  g.ndim = static_cast<int>(t.dim());
  for (int d = 0; d < g.ndim; ++d) g.sizes[d] = t.size(d);
  g.numel = t.numel();
  return g;
}

Strided strided(const Tensor& t) {
  Strided s{};
  s.data = const_cast<void*>(t.data());
  s.dtype = t.dtype();
  for (int d = 0; d < t.dim(); ++d) s.strides[d] = t.stride(d);
  return s;
}

unsigned blocks_for(int64_t n) {
  const int64_t b = (n + 255) / 256;
  return static_cast<unsigned>(b < 65535 * 8 ? b : 65535 * 8);
}

// dst = src, both on the device.
void copy_on_device(Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  cudaStream_t s = cuda::stream();
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    cuda::check(cudaMemcpyAsync(dst.data(), src.data(), dst.nbytes(), cudaMemcpyDeviceToDevice, s), "cudaMemcpy");
    return;
  }
  const Geometry g = geometry(dst);
  if (float_type(dst.dtype()) && float_type(src.dtype())) {
    copy_convert<<<blocks_for(n), 256, 0, s>>>(strided(dst), strided(src), g);
  } else {
    DA3_CHECK(dst.dtype() == src.dtype(), std::string("CUDA copy: cannot convert ") + dtype_name(src.dtype()) +
                                              " to " + dtype_name(dst.dtype()) + " on the device");
    switch (dtype_size(dst.dtype())) {
      case 1: copy_raw<uint8_t><<<blocks_for(n), 256, 0, s>>>(strided(dst), strided(src), g); break;
      case 2: copy_raw<uint16_t><<<blocks_for(n), 256, 0, s>>>(strided(dst), strided(src), g); break;
      case 4: copy_raw<uint32_t><<<blocks_for(n), 256, 0, s>>>(strided(dst), strided(src), g); break;
      default: copy_raw<uint64_t><<<blocks_for(n), 256, 0, s>>>(strided(dst), strided(src), g); break;
    }
  }
  cuda::check(cudaGetLastError(), "CUDA copy kernel");
}

}  // namespace

void copy_device(Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  cudaStream_t s = cuda::stream();
  if (dst.device() == Device::CUDA && src.device() == Device::CUDA) return copy_on_device(dst, src);
  if (dst.device() == Device::CUDA) {
    // Host -> device: convert and compact on the host, one transfer, then scatter on the device
    // when dst is strided.
    Tensor host = src;
    if (src.dtype() != dst.dtype() || !src.is_contiguous()) {
      host = Tensor::empty(src.shape(), dst.dtype());
      host.copy_from(src);
    }
    Tensor target = dst.is_contiguous() ? dst : Tensor::empty(dst.shape(), dst.dtype(), Device::CUDA);
    cuda::check(cudaMemcpyAsync(target.data(), host.data(), host.nbytes(), cudaMemcpyHostToDevice, s),
                "cudaMemcpy host to device");
    if (!dst.is_contiguous()) copy_on_device(dst, target);
    cuda::synchronize("copy to the GPU");  // `host` may be a temporary
    return;
  }
  // Device -> host: compact on the device, one transfer, then convert / scatter on the host.
  Tensor compact = src;
  if (!src.is_contiguous()) {
    compact = Tensor::empty(src.shape(), src.dtype(), Device::CUDA);
    copy_on_device(compact, src);
  }
  const bool direct = dst.is_contiguous() && dst.dtype() == src.dtype();
  Tensor host = direct ? dst : Tensor::empty(src.shape(), src.dtype());
  cuda::check(cudaMemcpyAsync(host.data(), compact.data(), compact.nbytes(), cudaMemcpyDeviceToHost, s),
              "cudaMemcpy device to host");
  cuda::synchronize("copy from the GPU");
  if (!direct) dst.copy_from(host);
}

void fill_device(Tensor& t, float value) {
  DA3_CHECK(float_type(t.dtype()), "fill (cuda): float tensors only, got " + t.describe());
  const int64_t n = t.numel();
  if (n == 0) return;
  fill_kernel<<<blocks_for(n), 256, 0, cuda::stream()>>>(strided(t), geometry(t), value);
  cuda::check(cudaGetLastError(), "fill kernel");
}

}  // namespace da3::detail
