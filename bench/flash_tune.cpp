// Sweeps the CPU flash kernel's block shape (query strips × key block) on one problem and prints
// GFLOP/s per shape: how the defaults in attention_flash_<isa>.cpp were chosen (docs/perf.md).
// Times are the minimum of --repeat runs, which is the most stable statistic on a shared machine;
// with 1 thread the process CPU time (min_cpu_ms) is printed too, which a busy neighbour does not
// inflate at all. DA3_FLASH_COMPUTE=bf16 times bf16 compute (the vdpbf16ps kernel where the
// CPU has AVX512_BF16).
//
//   da3_flash_tune [tokens=1297] [heads=6] [threads=1] [repeat=7] [isa=best|amx|avx2|avx512|avx512bf16|scalar]
//                  [strips] [block_k]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "da3/threads.hpp"
#include "kernels/cpu/attention_flash.hpp"

using namespace da3::kernels;

namespace {
// CPU time of the process (all threads), ms.
double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}
}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 1297;
  const int64_t heads = argc > 2 ? std::atoll(argv[2]) : 6;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 1;
  const int repeat = argc > 4 ? std::atoi(argv[4]) : 7;
  const std::string isa_name = argc > 5 ? argv[5] : "best";
  FlashCpuIsa isa = best_flash_cpu_isa();
  if (isa_name == "avx2") isa = FlashCpuIsa::Avx2;
  if (isa_name == "avx512") isa = FlashCpuIsa::Avx512;
  if (isa_name == "scalar") isa = FlashCpuIsa::Scalar;
  if (isa_name == "avx512bf16") isa = FlashCpuIsa::Avx512Bf16;
  if (isa_name == "amx") isa = FlashCpuIsa::Amx;
  const char* compute_env = std::getenv("DA3_FLASH_COMPUTE");
  const bool bf16 = compute_env && std::string(compute_env) == "bf16";
  const int64_t D = 64;
  da3::set_num_threads(threads);

  std::vector<float> q(n * heads * D), k(q.size()), v(q.size()), out(q.size());
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  for (auto* t : {&q, &k, &v})
    for (float& x : *t) x = dist(rng);
  AttentionProblem p;
  p.batch = 1; p.heads = heads; p.nq = n; p.nk = n; p.head_dim = D;
  // (B, N, H, D) contiguous, as the qkv Linear leaves them.
  auto op = [&](const std::vector<float>& t) { return AttnOperand{t.data(), da3::DType::F32, n * heads * D, heads * D, D}; };
  p.q = op(q); p.k = op(k); p.v = op(v);
  p.out = {out.data(), da3::DType::F32, n * heads * D, heads * D, D};
  p.scale = 0.125f;
  p.threads = threads;
  p.compute = bf16 ? ComputeType::BF16 : ComputeType::F32;
  const double flops = 4.0 * n * n * D * heads;

  std::printf("flash %s, %s compute: N=%lld heads=%lld D=%lld threads=%d, min of %d runs\n", flash_cpu_isa_name(isa),
              bf16 ? "bf16" : "f32", (long long)n, (long long)heads, (long long)D, threads, repeat);
  std::printf("%7s %8s %10s %9s %11s %9s\n", "strips", "block_k", "min_ms", "GFLOP/s", "min_cpu_ms", "GFLOP/s");
  const std::vector<int> strips_list = argc > 6 ? std::vector<int>{std::atoi(argv[6])} : std::vector<int>{4, 8, 12, 16, 24};
  const std::vector<int> bk_list = argc > 7 ? std::vector<int>{std::atoi(argv[7])} : std::vector<int>{32, 64, 128, 256, 512};
  for (int strips : strips_list)
    for (int bk : bk_list) {
      const FlashCpuTiling t{strips, bk};
      attention_flash_cpu(p, isa, t);
      double best = 1e30, best_cpu = 1e30;
      for (int r = 0; r < repeat; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = cpu_ms();
        attention_flash_cpu(p, isa, t);
        best_cpu = std::min(best_cpu, cpu_ms() - c0);
        best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      std::printf("%7d %8d %10.2f %9.1f %11.2f %9.1f\n", strips, bk, best, flops / (best * 1e-3) * 1e-9, best_cpu,
                  flops / (best_cpu * 1e-3) * 1e-9);
      std::fflush(stdout);
    }
  return 0;
}
