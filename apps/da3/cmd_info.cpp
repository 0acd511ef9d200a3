// `da3 info`: what this build is and what it will use on this machine.
#include <cstdio>

#include "da3_commands.hpp"
#include "da3/attention.hpp"
#include "da3/cpu.hpp"
#include "da3/cuda.hpp"
#include "da3/model.hpp"
#include "da3/threads.hpp"
#include "da3/version.hpp"
#include "nn/conv.hpp"

namespace da3::cli {

Action add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print version, build options, CPU ISA, threads and CUDA devices");
  return [cmd] {
    (void)cmd;
    const CpuFeatures& f = cpu_features();
    std::printf("da3.cpp %s\n", version());
    std::printf("Build: %s\n", build_info());
    std::printf("CPU: %s\n", f.brand.empty() ? "(unknown)" : f.brand.c_str());
    std::printf("CPU ISA: %s (avx2=%d fma=%d f16c=%d avx512f=%d avx512bw=%d avx512vl=%d avx512_bf16=%d)\n",
                cpu_isa_name(), f.avx2, f.fma, f.f16c, f.avx512f, f.avx512bw, f.avx512vl, f.avx512_bf16);
    std::printf("AMX: %s\n", f.amx_usable ? "usable (AMX-BF16 tiles granted by the OS)"
                             : f.amx_bf16  ? "listed by CPUID but the OS refused the tile permission"
                                           : "not present");
    std::printf("Fast precisions on cpu: %s\n", cpu_fast_precisions().c_str());
    const Bf16Support bf16 = cpu_bf16_support();
    std::printf("--precision bf16 on cpu: %s (%s)\n", bf16_mode_name(bf16.mode), bf16.why.c_str());
    std::printf("Depth heads under --precision bf16: %s\n", bf16_heads_description().c_str());
    std::printf("Threads: %d\n", num_threads());
    std::printf("CUDA: %s\n", cuda_status().c_str());
    for (const CudaDevice& d : cuda_devices()) {
      std::printf("  cuda:%d %s, compute capability %d.%d, %.1f GiB\n", d.index, d.name.c_str(), d.cc_major,
                  d.cc_minor, static_cast<double>(d.memory_bytes) / (1024.0 * 1024.0 * 1024.0));
    }
    // The brief's two lines (for the default device), then the per-device detail.
    std::printf("Flash Attention available: %s\n", flash_attn_available() ? "True" : "False");
    std::printf("Selected backend: %s\n", attention_backend_name(attention_backend()));
    std::printf("Attention on cpu: flash_attn %s (kernel %s), selected %s\n",
                flash_attn_available(Device::CPU) ? "available" : "not available", flash_attn_cpu_isa(),
                attention_backend_name(attention_backend(Device::CPU)));
    std::printf("3x3 convolutions on cpu: %s\n", nn::conv3x3_auto_description().c_str());
    if (!cuda_devices().empty()) {
      std::printf("Attention on cuda: flash_attn %s, selected %s\n",
                  flash_attn_available(Device::CUDA) ? "available" : "not available",
                  attention_backend_name(attention_backend(Device::CUDA)));
    }
    return 0;
  };
}

}  // namespace da3::cli
