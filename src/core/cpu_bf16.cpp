// How --precision bf16 runs on this CPU (da3/cpu.hpp: Bf16Mode), and the fast-precision line.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/bf16_dot_probe.hpp"
#include "core/text.hpp"
#include "da3/cpu.hpp"
#include "da3/log.hpp"

namespace da3 {

namespace {

// bf16 products must beat fp32 FMAs by this much to pay for rounding the inputs per call (the
// measured rates sit far from it: ~2x on Zen 4, ~0.5x on Intel cores without AMX).
constexpr double kBf16ComputeMinRatio = 1.25;

std::string fmt2(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

// What the hardware decides, measured once (the forced modes below do not need it).
const Bf16Support& measured_support() {
  static const Bf16Support s = [] {
    const CpuFeatures& f = cpu_features();
    Bf16Support r;
    if (f.amx_usable) {
      r.mode = Bf16Mode::Compute;
      r.why = "AMX-BF16 tiles run the bf16 products";
      return r;
    }
    if (!f.avx512_bf16) {
      r.why = "this CPU has no bf16 arithmetic (neither AVX512_BF16 nor AMX-BF16)";
      return r;
    }
    const detail::Bf16DotProbe p = detail::probe_bf16_dot_rate();
    r.dot_rate_vs_fp32 = p.bf16_gflops / p.fma_gflops;
    const std::string rate = "vdpbf16ps runs at " + fmt2(r.dot_rate_vs_fp32) + "x this CPU's fp32 FMA rate (" +
                             fmt2(p.bf16_gflops) + " vs " + fmt2(p.fma_gflops) + " GFLOP/s, one thread, measured)";
    if (r.dot_rate_vs_fp32 >= kBf16ComputeMinRatio) {
      r.mode = Bf16Mode::Compute;
      r.why = "AVX512_BF16: " + rate;
    } else {
      r.mode = Bf16Mode::WeightsOnly;
      r.why = "AVX512_BF16 without AMX, and " + rate +
              ": bf16 products would be slower than fp32, so bf16 weights are widened to fp32 per product";
    }
    return r;
  }();
  return s;
}

}  // namespace

const char* bf16_mode_name(Bf16Mode m) {
  switch (m) {
    case Bf16Mode::Compute: return "compute";
    case Bf16Mode::WeightsOnly: return "weights-only";
    case Bf16Mode::Unsupported: return "unsupported";
  }
  return "?";
}

Bf16Support cpu_bf16_support() {
  const CpuFeatures& f = cpu_features();
  const char* e = std::getenv("DA3_BF16_COMPUTE");
  const std::string v = e ? detail::lower_trimmed(e) : std::string();
  if (!f.bf16_arithmetic() || v.empty() || v == "auto") return measured_support();
  if (v == "1" || v == "0") {
    Bf16Support r;
    r.mode = v == "1" ? Bf16Mode::Compute : Bf16Mode::WeightsOnly;
    r.why = std::string("forced by DA3_BF16_COMPUTE=") + v;
    return r;
  }
  log_once(LogLevel::Warn, "DA3_BF16_COMPUTE",
           "DA3_BF16_COMPUTE='" + std::string(e) + "' is not auto, 1 or 0; using auto (measured)");
  return measured_support();
}

std::string cpu_fast_precisions() {
  const CpuFeatures& f = cpu_features();
  const Bf16Support s = cpu_bf16_support();
  if (s.mode == Bf16Mode::Compute) {
    if (f.amx_usable) return f.avx512_bf16 ? "fp32, bf16 (AMX-BF16 + AVX512_BF16)" : "fp32, bf16 (AMX-BF16)";
    return "fp32, bf16 (AVX512_BF16)";
  }
  // No measured numbers here (the line is compared across processes); `da3 info` prints them next.
  if (s.mode == Bf16Mode::WeightsOnly)
    return "fp32 (--precision bf16 runs, with bf16 weights and fp32 products: half the weight memory, not faster)";
  return "fp32";
}

}  // namespace da3
