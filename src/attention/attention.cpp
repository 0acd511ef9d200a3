// The attention entry point: validates tensors, turns them into a kernels::AttentionProblem
// (pointers + strides, no copies where the head dim is contiguous), picks the backend and runs it.
#include "da3/attention.hpp"

#include <cmath>
#include <cstdlib>

#include "attention/cuda_path.hpp"
#include "attention/select.hpp"
#include "da3/cpu.hpp"
#include "da3/cuda.hpp"
#include "da3/log.hpp"
#include "da3/profile.hpp"
#include "da3/threads.hpp"
#include "kernels/cpu/attention_flash.hpp"
#include "kernels/cpu/attention_manual.hpp"
#include "kernels/cpu/attention_problem.hpp"
#include "kernels/cpu/attention_sdpa.hpp"

namespace da3 {

namespace {

using kernels::AttentionProblem;
using kernels::ComputeType;

bool is_attention_dtype(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }

// The (B, N, H, D) sizes and (b, n, h) strides of a 4-D tensor in `layout`.
struct Axes {
  int64_t B, N, H, D, sb, sn, sh;
};

Axes axes_of(const Tensor& t, AttentionLayout layout) {
  if (layout == AttentionLayout::BNHD) {
    return {t.size(0), t.size(1), t.size(2), t.size(3), t.stride(0), t.stride(1), t.stride(2)};
  }
  return {t.size(0), t.size(2), t.size(1), t.size(3), t.stride(0), t.stride(2), t.stride(1)};
}

const char* layout_name(AttentionLayout l) { return l == AttentionLayout::BNHD ? "(B, N, H, D)" : "(B, H, N, D)"; }

void check_operand(const Tensor& t, const char* name, Device device) {
  DA3_CHECK(t.defined(), std::string("attention: ") + name + " is undefined");
  DA3_CHECK(t.dim() == 4, std::string("attention: ") + name + " must be 4-D, got " + t.describe());
  DA3_CHECK(t.device() == device, std::string("attention: ") + name + " is on " + device_name(t.device()) +
                                      " but q is on " + device_name(device));
}

// Kernels want the head dim contiguous; anything else is copied once (the only copy we make).
Tensor unit_last_stride(const Tensor& t) { return t.size(3) <= 1 || t.stride(3) == 1 ? t : t.contiguous(); }

kernels::AttnOperand operand(const Tensor& t, AttentionLayout layout) {
  const Axes a = axes_of(t, layout);
  return {t.data(), t.dtype(), a.sb, a.sn, a.sh};
}

std::optional<std::string> env_backend() {
  const char* e = std::getenv("DA3_ATTENTION_BACKEND");
  if (!e) return std::nullopt;
  return std::string(e);
}

// Whether a flash kernel exists for this device / head dim / precision, and if not, why.
bool flash_available_for(Device device, int64_t head_dim, AttentionPrecision precision, std::string* why) {
  if (device == Device::CPU) {
    if (kernels::best_flash_cpu_isa() == kernels::FlashCpuIsa::Scalar) {
      if (why) *why = "this CPU has neither AVX2+FMA nor AVX-512, and the plain C++ flash kernel is slower than sdpa";
      return false;
    }
    return true;
  }
#ifdef DA3_WITH_CUDA
  return attn::cuda_flash_available(head_dim, precision, why);
#else
  if (why) *why = "this build has no CUDA";
  return false;
#endif
}

ComputeType compute_type(AttentionPrecision p) {
  switch (p) {
    case AttentionPrecision::BF16: return ComputeType::BF16;
    case AttentionPrecision::F16: return ComputeType::F16;
    default: return ComputeType::F32;
  }
}

attn::Selection resolve(Device device, const AttentionOptions& opts, int64_t head_dim, bool has_mask,
                        attn::SelectionInputs* inputs_out = nullptr) {
  attn::SelectionInputs in;
  in.call = opts.backend;
  in.model = opts.model_backend;
  in.env = env_backend();
  in.has_mask = has_mask;
  in.flash_available = flash_available_for(device, head_dim, opts.precision, &in.flash_unavailable_reason);
  const attn::Selection s = attn::select_backend(in);
  if (s.env_invalid) log_once(LogLevel::Warn, "attention-env-invalid:" + *in.env, attn::env_invalid_message(*in.env));
  if (s.fallback != attn::Fallback::None) {
    // Asked for by name: a warning. Picked automatically (only the mask case): worth a note.
    const LogLevel level = s.requested == AttentionBackend::Auto ? LogLevel::Info : LogLevel::Warn;
    log_once(level, std::string("attention-fallback:") + device_name(device) + ":" +
                        std::to_string(static_cast<int>(s.fallback)) + ":" + s.requested_by,
             attn::fallback_message(s, in));
  }
  if (inputs_out) *inputs_out = in;
  return s;
}

kernels::AttnMask mask_of(const Tensor& mask, int64_t B, int64_t H, int64_t nq, int64_t nk) {
  kernels::AttnMask m;
  const int64_t nd = mask.dim();
  DA3_CHECK(nd == 3 || nd == 4, "attention: mask must be (B or 1, Nq, Nk) or (B or 1, H or 1, Nq, Nk), got " +
                                    mask.describe());
  const int64_t mb = mask.size(0), mh = nd == 4 ? mask.size(1) : 1;
  DA3_CHECK((mb == B || mb == 1) && (mh == H || mh == 1) && mask.size(-2) == nq && mask.size(-1) == nk,
            "attention: mask " + mask.describe() + " does not fit B=" + std::to_string(B) + ", H=" +
                std::to_string(H) + ", Nq=" + std::to_string(nq) + ", Nk=" + std::to_string(nk));
  m.data = mask.data();
  m.dtype = mask.dtype();
  m.sb = mb == 1 ? 0 : mask.stride(0);
  m.sh = nd == 4 && mh != 1 ? mask.stride(1) : 0;
  m.si = mask.stride(-2);
  return m;
}

}  // namespace

Device default_attention_device() {
#ifdef DA3_WITH_CUDA
  if (!cuda_devices().empty()) return Device::CUDA;
#endif
  return Device::CPU;
}

bool flash_attn_available(Device device) {
  return flash_available_for(device, 64, AttentionPrecision::Auto, nullptr);
}
bool flash_attn_available() { return flash_attn_available(default_attention_device()); }

AttentionBackend attention_backend(Device device) { return resolve(device, {}, 64, false).backend; }
AttentionBackend attention_backend() { return attention_backend(default_attention_device()); }

const char* flash_attn_cpu_isa() { return kernels::flash_cpu_isa_name(kernels::best_flash_cpu_isa()); }

AttentionBackend resolve_attention_backend(Device device, const AttentionOptions& opts, int64_t head_dim) {
  return resolve(device, opts, head_dim, opts.mask.defined()).backend;
}

void attention_into(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, Tensor& out,
                    const AttentionOptions& opts) {
  DA3_CHECK(q_in.defined(), "attention: q is undefined");
  const Device device = q_in.device();
  check_operand(q_in, "q", device);
  check_operand(k_in, "k", device);
  check_operand(v_in, "v", device);
  check_operand(out, "out", device);
  DA3_CHECK(is_attention_dtype(q_in.dtype()), "attention: q must be f32, bf16 or f16, got " + q_in.describe());
  DA3_CHECK(k_in.dtype() == q_in.dtype() && v_in.dtype() == q_in.dtype(),
            "attention: q, k and v must share a dtype, got q " + q_in.describe() + ", k " + k_in.describe() +
                ", v " + v_in.describe());
  DA3_CHECK(is_attention_dtype(out.dtype()), "attention: out must be f32, bf16 or f16, got " + out.describe());

  const AttentionLayout L = opts.layout;
  const Axes qa = axes_of(q_in, L), ka = axes_of(k_in, L), va = axes_of(v_in, L);
  const std::string lay = layout_name(L);
  DA3_CHECK(qa.D > 0, "attention: head dim of q is 0 in " + q_in.describe());
  DA3_CHECK(ka.B == qa.B && ka.H == qa.H && ka.D == qa.D,
            "attention: k " + k_in.describe() + " does not match q " + q_in.describe() + " in layout " + lay);
  DA3_CHECK(va.B == qa.B && va.H == qa.H && va.D == qa.D && va.N == ka.N,
            "attention: v " + v_in.describe() + " does not match k " + k_in.describe() + " in layout " + lay);
  DA3_CHECK(out.shape() == q_in.shape(), "attention: out " + out.describe() + " must have q's shape " +
                                             shape_str(q_in.shape()));
  if (qa.B == 0 || qa.H == 0 || qa.N == 0) return;
  DA3_CHECK(ka.N > 0, "attention: k and v have no tokens (Nk = 0)");
  // Q·Kᵀ and P·V, 2 FLOP per multiply-add each, whichever backend runs (softmax not counted).
  count_flops(static_cast<uint64_t>(4 * qa.B * qa.H * qa.N * ka.N * qa.D));

  const float scale = opts.scale.value_or(1.f / std::sqrt(static_cast<float>(qa.D)));
  DA3_CHECK(std::isfinite(scale), "attention: scale must be finite");
  const bool has_mask = opts.mask.defined();
  Tensor mask;
  if (has_mask) {
    DA3_CHECK(opts.mask.device() == device, "attention: the mask is on " + std::string(device_name(opts.mask.device())) +
                                                " but q is on " + device_name(device));
    DA3_CHECK(opts.mask.dtype() == DType::Bool || dtype_is_float(opts.mask.dtype()),
              "attention: mask must be float (additive) or bool, got " + opts.mask.describe());
    if (device == Device::CUDA) {
      DA3_CHECK((opts.mask.dtype() == DType::Bool || opts.mask.dtype() == DType::F32) &&
                    (opts.mask.size(-1) <= 1 || opts.mask.stride(-1) == 1),
                "attention (cuda): the mask must be f32 or bool with a contiguous last dim, got " + opts.mask.describe());
      mask = opts.mask;
    } else {
      mask = opts.mask.dtype() == DType::Bool || opts.mask.dtype() == DType::F32 ? opts.mask : opts.mask.to(DType::F32);
      if (mask.size(-1) > 1 && mask.stride(-1) != 1) mask = mask.contiguous();
    }
  }

  const attn::Selection sel = resolve(device, opts, qa.D, has_mask);
  AttentionBackend backend = sel.backend;

  AttentionProblem p;
  p.batch = qa.B;
  p.heads = qa.H;
  p.nq = qa.N;
  p.nk = ka.N;
  p.head_dim = qa.D;
  p.scale = scale;
  p.threads = num_threads();
  if (has_mask) p.mask = mask_of(mask, qa.B, qa.H, qa.N, ka.N);

  AttentionStats stats;
  stats.backend = backend;

  if (device == Device::CUDA) {
#ifdef DA3_WITH_CUDA
    attn::run_cuda(backend, opts.precision, q_in, k_in, v_in, out, L, p, stats);
    if (opts.stats) *opts.stats = stats;
    return;
#else
    throw Error("attention: tensors are on CUDA but this build has no CUDA");
#endif
  }

  Tensor q = unit_last_stride(q_in), k = unit_last_stride(k_in), v = unit_last_stride(v_in);
  // Results go straight into `out` unless a kernel cannot write its dtype / strides.
  const bool need_f32 = backend == AttentionBackend::Sdpa;
  const bool out_direct = (out.size(3) <= 1 || out.stride(3) == 1) && (!need_f32 || out.dtype() == DType::F32);
  Tensor dst = out_direct ? out : Tensor::empty(out.shape(), need_f32 ? DType::F32 : out.dtype());
  if (need_f32 && q.dtype() != DType::F32) {
    q = q.to(DType::F32);
    k = k.to(DType::F32);
    v = v.to(DType::F32);
  }
  p.q = operand(q, L);
  p.k = operand(k, L);
  p.v = operand(v, L);
  const Axes da = axes_of(dst, L);
  p.out = {dst.data(), dst.dtype(), da.sb, da.sn, da.sh};

  switch (backend) {
    case AttentionBackend::FlashAttn: {
      AttentionPrecision prec = opts.precision == AttentionPrecision::Auto ? AttentionPrecision::F32 : opts.precision;
      // Where vdpbf16ps is slower than fp32 FMAs (Intel without AMX: da3/cpu.hpp), bf16 products
      // would only lose time and accuracy: the fp32 body runs instead (stats say f32).
      if (prec == AttentionPrecision::BF16 && cpu_bf16_support().mode == Bf16Mode::WeightsOnly)
        prec = AttentionPrecision::F32;
      p.compute = compute_type(prec);
      const kernels::FlashCpuIsa isa = kernels::best_flash_cpu_isa();
      stats.precision = prec;
      stats.kernel = std::string("flash_attn/cpu-") + kernels::flash_cpu_isa_name(isa) + "-" +
                     attention_precision_name(prec);
      stats.scratch_bytes = kernels::attention_flash_cpu(p, isa);
      break;
    }
    case AttentionBackend::Sdpa:
      stats.precision = AttentionPrecision::F32;
      stats.kernel = "sdpa/cpu-onednn-f32";
      stats.scratch_bytes = kernels::attention_sdpa_cpu(p);
      break;
    case AttentionBackend::Manual:
    case AttentionBackend::Auto:
      stats.precision = AttentionPrecision::F32;
      stats.kernel = "manual/cpu-f32";
      stats.scratch_bytes = kernels::attention_manual_cpu(p);
      break;
  }
  if (!out_direct) out.copy_from(dst);
  if (q.data() != q_in.data()) stats.scratch_bytes += q.nbytes() + k.nbytes() + v.nbytes();
  if (!out_direct) stats.scratch_bytes += dst.nbytes();
  if (opts.stats) *opts.stats = stats;
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& opts) {
  DA3_CHECK(q.defined(), "attention: q is undefined");
  Tensor out;
  if (q.device() == Device::CPU) {
    out = Tensor::empty(q.shape(), q.dtype());
  } else {
#ifdef DA3_WITH_CUDA
    out = attn::cuda_empty(q.shape(), q.dtype());
#else
    throw Error("attention: tensors are on CUDA but this build has no CUDA");
#endif
  }
  attention_into(q, k, v, out, opts);
  return out;
}

}  // namespace da3
