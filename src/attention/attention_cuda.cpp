// The CUDA side of the attention entry point: device checks, GPU memory for outputs and
// workspaces, dtype conversions around the fp32 backends, and the calls into the kernels.
// Built only when nvcc is found (the *_cuda.cpp rule in CMakeLists.txt).
#include <cuda_runtime_api.h>

#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>

#include "attention/cuda_path.hpp"
#include "core/cuda_context.hpp"
#include "core/device_memory.hpp"
#include "da3/cuda.hpp"
#include "da3/log.hpp"
#include "kernels/cuda/attention_cuda.hpp"
#include "kernels/cuda/attention_flash_sm90_select.hpp"

namespace da3::attn {

namespace {

void check(cudaError_t e, const char* what) { cuda::check(e, std::string("attention (cuda): ") + what); }

// The device the calls run on (the current one) and its compute capability.
const CudaDevice* current_device() {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return nullptr;
  for (const CudaDevice& d : cuda_devices())
    if (d.index == dev) return &d;
  return nullptr;
}

int cc_of(const CudaDevice& d) { return d.cc_major * 10 + d.cc_minor; }

// GPU scratch for one call from the caching allocator, handed back on scope exit (stream order
// makes the reuse safe: the next user's kernels queue behind this call's).
struct DeviceBuffer {
  std::shared_ptr<void> mem;
  void* ptr = nullptr;
  explicit DeviceBuffer(size_t bytes) {
    if (bytes) {
      mem = detail::allocate_device(bytes);
      ptr = mem.get();
    }
  }
};

kernels::AttnOperand operand(const Tensor& t, AttentionLayout layout) {
  const bool bnhd = layout == AttentionLayout::BNHD;
  return {t.data(), t.dtype(), t.stride(0), bnhd ? t.stride(1) : t.stride(2), bnhd ? t.stride(2) : t.stride(1)};
}

// A contiguous f32 copy of a CUDA tensor (same shape).
Tensor to_f32_contiguous(const Tensor& t) {
  Tensor out = cuda_empty(t.shape(), DType::F32);
  const int64_t sizes[4] = {t.size(0), t.size(1), t.size(2), t.size(3)};
  const int64_t strides[4] = {t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
  kernels::cuda::convert_4d(t.data(), t.dtype(), sizes, strides, out.data(), DType::F32, cuda::stream());
  return out;
}

// The flash kernel choice: the environment's (read once), unless set_cuda_flash_kernel overrides.
using kernels::cuda::FlashKernel;
using kernels::cuda::FlashKernelSpec;

FlashKernelSpec env_flash_kernel_spec() {
  FlashKernelSpec spec;
  if (const char* e = std::getenv("DA3_CUDA_FLASH_KERNEL"); e && *e) {
    const auto parsed = kernels::cuda::parse_flash_kernel_spec(e);
    if (parsed) spec = *parsed;
    else
      log_once(LogLevel::Warn, "DA3_CUDA_FLASH_KERNEL",
               std::string("DA3_CUDA_FLASH_KERNEL='") + e + "' is not auto, fa2, sm90 or sm90:<tile> (tiles: " +
                   kernels::cuda::sm90_tile_list() + "); using auto");
  }
  if (const char* e = std::getenv("DA3_CUDA_FLASH_SM90_TILE"); e && *e) {
    const auto tile = kernels::cuda::parse_sm90_tile(e);
    if (tile) spec.sm90_tile = *tile;
    else
      log_once(LogLevel::Warn, "DA3_CUDA_FLASH_SM90_TILE",
               std::string("DA3_CUDA_FLASH_SM90_TILE='") + e + "' is not one of " + kernels::cuda::sm90_tile_list() +
                   "; using " + kernels::cuda::sm90_tile_name(kernels::cuda::kSm90DefaultTile));
  }
  return spec;
}

std::mutex& flash_spec_mutex() {
  static std::mutex m;
  return m;
}
std::optional<FlashKernelSpec>& flash_spec_override() {
  static std::optional<FlashKernelSpec> o;
  return o;
}

FlashKernelSpec current_flash_spec() {
  static const FlashKernelSpec from_env = env_flash_kernel_spec();
  std::lock_guard<std::mutex> lock(flash_spec_mutex());
  return flash_spec_override() ? *flash_spec_override() : from_env;
}

std::string spec_name(const FlashKernelSpec& s) {
  std::string out = kernels::cuda::flash_kernel_name(s.kernel);
  if (s.kernel == FlashKernel::Sm90) {
    out += ':';
    out += kernels::cuda::sm90_tile_name(s.sm90_tile);
  }
  return out;
}

// A contiguous (B, H, N, D) copy of one operand in `dtype`: what the sm90 kernel reads when the
// caller's operand is in another dtype (TMA copies bytes and cannot convert).
Tensor converted_operand(const Tensor& t, AttentionLayout layout, DType dtype, kernels::AttnOperand& op) {
  const bool bnhd = layout == AttentionLayout::BNHD;
  const int64_t B = t.size(0), N = bnhd ? t.size(1) : t.size(2), H = bnhd ? t.size(2) : t.size(1), D = t.size(3);
  Tensor out = cuda_empty({B, H, N, D}, dtype);
  // The source read in (B, H, N, D) order through its own strides.
  const int64_t sizes[4] = {B, H, N, D};
  const int64_t strides[4] = {t.stride(0), bnhd ? t.stride(2) : t.stride(1), bnhd ? t.stride(1) : t.stride(2),
                              t.stride(3)};
  kernels::cuda::convert_4d(t.data(), t.dtype(), sizes, strides, out.data(), dtype, cuda::stream());
  op = {out.data(), dtype, out.stride(0), out.stride(2), out.stride(1)};
  return out;
}

}  // namespace

void set_cuda_flash_kernel(const std::string& spec) {
  std::optional<FlashKernelSpec> parsed;
  if (!spec.empty()) {
    parsed = kernels::cuda::parse_flash_kernel_spec(spec);
    DA3_CHECK(parsed.has_value(), "set_cuda_flash_kernel: '" + spec + "' is not auto, fa2, sm90 or sm90:<tile> (tiles: " +
                                      kernels::cuda::sm90_tile_list() + ")");
  }
  std::lock_guard<std::mutex> lock(flash_spec_mutex());
  flash_spec_override() = parsed;
}

std::string cuda_flash_kernel_spec() { return spec_name(current_flash_spec()); }

Tensor cuda_empty(const Shape& shape, DType dtype) { return Tensor::empty(shape, dtype, Device::CUDA); }

bool cuda_flash_available(int64_t head_dim, AttentionPrecision precision, std::string* why) {
  const CudaDevice* d = current_device();
  if (!d) {
    if (why) *why = "no CUDA device (" + cuda_status() + ")";
    return false;
  }
  if (cc_of(*d) < 75) {
    if (why) *why = "compute capability " + std::to_string(d->cc_major) + "." + std::to_string(d->cc_minor) + " < 7.5";
    return false;
  }
  if (!kernels::cuda::flash_head_dim_supported(head_dim)) {
    if (why) *why = "head dim " + std::to_string(head_dim) + " (the CUDA flash kernel has 32, 64 and 128)";
    return false;
  }
  if (precision == AttentionPrecision::F32) {
    if (why) *why = "fp32 compute requested (the CUDA flash kernel computes in bf16 / fp16)";
    return false;
  }
  return true;
}

void run_cuda(AttentionBackend backend, AttentionPrecision precision, const Tensor& q, const Tensor& k,
              const Tensor& v, Tensor& out, AttentionLayout layout, kernels::AttentionProblem& p,
              AttentionStats& stats) {
  DA3_CHECK(!p.mask.data || p.mask.dtype == DType::Bool || p.mask.dtype == DType::F32,
            "attention (cuda): mask must be f32 or bool");
  for (const Tensor* t : {&q, &k, &v, static_cast<const Tensor*>(&out)})
    DA3_CHECK(t->size(3) <= 1 || t->stride(3) == 1, "attention (cuda): tensors need a contiguous head dim, got " +
                                                        t->describe());
  const CudaDevice* dev = current_device();
  DA3_CHECK(dev != nullptr, "attention (cuda): no CUDA device (" + cuda_status() + ")");
  stats.backend = backend;

  if (backend == AttentionBackend::FlashAttn) {
    // bf16 where the GPU has it (sm_80+), else fp16; an explicit F16 request is honoured.
    const bool bf16 = precision != AttentionPrecision::F16 && cc_of(*dev) >= 80;
    p.compute = bf16 ? kernels::ComputeType::BF16 : kernels::ComputeType::F16;
    p.q = operand(q, layout);
    p.k = operand(k, layout);
    p.v = operand(v, layout);
    const kernels::AttnOperand o = operand(out, layout);
    p.out = {out.data(), out.dtype(), o.sb, o.sn, o.sh};
    stats.precision = bf16 ? AttentionPrecision::BF16 : AttentionPrecision::F16;
    const char* prec = bf16 ? "-bf16" : "-f16";

    // The Hopper kernel, when asked for (DA3_CUDA_FLASH_KERNEL=sm90 / set_cuda_flash_kernel) and
    // the device and problem allow it; fa2 otherwise, with one log line saying why.
    const kernels::cuda::FlashKernelChoice choice =
        kernels::cuda::choose_flash_kernel(current_flash_spec(), dev->cc_major, dev->cc_minor, p);
    if (!choice.note.empty()) log_once(LogLevel::Warn, "cuda-flash-kernel:" + choice.note, choice.note);
    if (choice.kernel == FlashKernel::Sm90) {
      kernels::AttentionProblem p90 = p;
      const DType cdt = bf16 ? DType::BF16 : DType::F16;
      Tensor qc, kc, vc;  // converted copies, alive until the kernel is queued (stream order does the rest)
      if (choice.convert_q) qc = converted_operand(q, layout, cdt, p90.q);
      if (choice.convert_k) kc = converted_operand(k, layout, cdt, p90.k);
      if (choice.convert_v) vc = converted_operand(v, layout, cdt, p90.v);
      std::string why;
      if (kernels::cuda::attention_flash_sm90(p90, choice.sm90_tile, cuda::stream(), &why)) {
        check(cudaGetLastError(), "flash kernel (sm90) launch");
        const bool converted = choice.convert_q || choice.convert_k || choice.convert_v;
        stats.kernel = "flash_attn/cuda-sm90a-" + kernels::cuda::sm90_tile_name(choice.sm90_tile) + prec +
                       (converted ? "-converted-inputs" : "");
        stats.scratch_bytes = (qc.defined() ? qc.nbytes() : 0) + (kc.defined() ? kc.nbytes() : 0) +
                              (vc.defined() ? vc.nbytes() : 0);
        return;
      }
      log_once(LogLevel::Warn, "cuda-flash-kernel-launch:" + why,
               "DA3_CUDA_FLASH_KERNEL=sm90: the sm90 kernel could not launch (" + why + "); using fa2");
    }
    kernels::cuda::attention_flash(p, cuda::stream());
    check(cudaGetLastError(), "flash kernel launch");
    stats.kernel = std::string("flash_attn/cuda-sm") + std::to_string(cc_of(*dev)) + prec;
    return;
  }

  stats.precision = AttentionPrecision::F32;
  if (backend == AttentionBackend::Manual || backend == AttentionBackend::Auto) {
    p.q = operand(q, layout);
    p.k = operand(k, layout);
    p.v = operand(v, layout);
    const kernels::AttnOperand o = operand(out, layout);
    p.out = {out.data(), out.dtype(), o.sb, o.sn, o.sh};
    const size_t ws_bytes = kernels::cuda::manual_workspace_bytes(p);
    DeviceBuffer ws(ws_bytes);
    kernels::cuda::attention_manual(p, static_cast<float*>(ws.ptr), cuda::stream());
    check(cudaGetLastError(), "manual kernels launch");
    stats.kernel = "manual/cuda-f32";
    stats.scratch_bytes = ws_bytes;
    return;
  }

  // sdpa: cuBLAS fp32 GEMMs want f32 operands and an f32 output.
  const Tensor qf = q.dtype() == DType::F32 ? q : to_f32_contiguous(q);
  const Tensor kf = k.dtype() == DType::F32 ? k : to_f32_contiguous(k);
  const Tensor vf = v.dtype() == DType::F32 ? v : to_f32_contiguous(v);
  const bool direct = out.dtype() == DType::F32;
  Tensor of = direct ? out : cuda_empty(out.shape(), DType::F32);
  p.q = operand(qf, layout);
  p.k = operand(kf, layout);
  p.v = operand(vf, layout);
  const kernels::AttnOperand o = operand(of, layout);
  p.out = {of.data(), DType::F32, o.sb, o.sn, o.sh};
  const size_t ws_bytes = kernels::cuda::sdpa_workspace_bytes(p);
  DeviceBuffer ws(ws_bytes);
  kernels::cuda::attention_sdpa(p, static_cast<float*>(ws.ptr), cuda::stream());
  if (!direct) {
    // of is contiguous in out's shape; write it through out's strides by a 4-D convert on
    // a view of `of` laid out like `out`.
    const int64_t sizes[4] = {out.size(0), out.size(1), out.size(2), out.size(3)};
    const int64_t strides[4] = {of.stride(0), of.stride(1), of.stride(2), of.stride(3)};
    DA3_CHECK(out.is_contiguous(), "attention (sdpa, cuda): a non-f32 output must be contiguous");
    kernels::cuda::convert_4d(of.data(), DType::F32, sizes, strides, out.data(), out.dtype(), cuda::stream());
  }
  check(cudaGetLastError(), "sdpa kernels launch");
  stats.kernel = "sdpa/cuda-cublas-f32";
  stats.scratch_bytes = ws_bytes + (direct ? 0 : of.nbytes()) + (qf.data() != q.data() ? 3 * qf.nbytes() : 0);
}

Tensor cuda_copy(const Tensor& src, Device to) {
  DA3_CHECK(src.device() != to, "cuda_copy: tensor is already on the target device");
  return src.to(to);
}

}  // namespace da3::attn
