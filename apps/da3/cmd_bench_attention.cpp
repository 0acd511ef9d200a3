// `da3 bench attention`: times each attention backend on DA3-shaped problems (ViT-S/B/L/G head
// counts, head dim 64, the token counts of 1 and 4 views) and prints, per configuration, each
// backend's median time, GFLOP/s (4·N²·D·heads per call), error against `manual`, and the
// flash-vs-sdpa speedup. --json writes the same rows as one JSON array.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "da3/attention.hpp"
#include "da3/cpu.hpp"
#include "da3/error.hpp"
#include "da3/threads.hpp"
#include "da3_commands.hpp"

#ifdef DA3_WITH_CUDA
#include "attention/cuda_path.hpp"
#include "da3/cuda.hpp"
#endif

namespace da3::cli {

namespace {

struct BenchArgs {
  std::vector<int64_t> tokens{256, 529, 1024, 1369, 1297, 4 * 1297};
  std::vector<int64_t> heads{6, 12, 16, 24};
  std::vector<std::string> backends{"flash_attn", "sdpa", "manual"};
  std::vector<std::string> dtypes{"f32"};
  int64_t head_dim = 64;
  int64_t batch = 1;
  int repeat = 5;
  int64_t manual_max_tokens = 1500;
  double peak_gflops = 0;
  bool check = true;
  bool module = false;
  std::string json_path;
  std::string device = "cpu";
};

struct Row {
  int64_t heads, head_dim, tokens;
  std::string backend, dtype, device;
  int threads;
  double median_ms, gflops, max_rel_err;
  size_t scratch_bytes;
};

const char* vit_name(int64_t heads) {
  switch (heads) {
    case 6: return "ViT-S";
    case 12: return "ViT-B";
    case 16: return "ViT-L";
    case 24: return "ViT-G";
    default: return "";
  }
}

Tensor random_input(const Shape& shape, uint32_t seed) {
  Tensor t = Tensor::empty(shape, DType::F32);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

// max |out - ref| / max |ref| over the heads `ref` covers (the first ref.size(2) heads).
double max_rel_err(const Tensor& out, const Tensor& ref) {
  const Tensor o = out.slice(2, 0, ref.size(2)).contiguous().to(DType::F32);
  const float* a = o.data_as<float>();
  const float* r = ref.data_as<float>();
  double num = 0, den = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    num = std::max(num, std::fabs(double(a[i]) - double(r[i])));
    den = std::max(den, std::fabs(double(r[i])));
  }
  return den > 0 ? num / den : num;
}

std::string human_bytes(size_t b) {
  char buf[32];
  if (b >= (size_t(1) << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / (1 << 20));
  else std::snprintf(buf, sizeof buf, "%.1f KiB", double(b) / 1024);
  return buf;
}

int run(const BenchArgs& a) {
  if (a.module) {
    throw Error("da3 bench attention --module is not implemented yet: it needs the model's Attention module "
                "(qkv/proj Linear), which lands with the model layer");
  }
  std::vector<AttentionBackend> backends;
  for (const std::string& s : a.backends) {
    auto b = parse_attention_backend(s);
    DA3_CHECK(b && *b != AttentionBackend::Auto, "--backends: '" + s + "' is not one of flash_attn, sdpa, manual");
    backends.push_back(*b);
  }
  for (const std::string& d : a.dtypes) DA3_CHECK(d == "f32" || d == "bf16", "--dtype: '" + d + "' is not f32 or bf16");

  DA3_CHECK(a.device == "cpu" || a.device == "cuda", "--device: '" + a.device + "' is not cpu or cuda");
  const bool gpu = a.device == "cuda";
#ifdef DA3_WITH_CUDA
  DA3_CHECK(!gpu || !cuda_devices().empty(), "--device cuda: no CUDA device (" + cuda_status() + ")");
  auto to_device = [gpu](const Tensor& t) { return gpu ? attn::cuda_copy(t, Device::CUDA) : t; };
  auto to_host = [gpu](const Tensor& t) { return gpu ? attn::cuda_copy(t, Device::CPU) : t; };
  auto empty_on = [gpu](const Shape& s) { return gpu ? attn::cuda_empty(s, DType::F32) : Tensor::empty(s, DType::F32); };
  const std::string where =
      gpu ? "cuda:0 " + cuda_devices()[0].name
          : "cpu " + cpu_features().brand + " (flash kernel: " + flash_attn_cpu_isa() + ")";
#else
  DA3_CHECK(!gpu, "--device cuda: this build has no CUDA");
  auto to_device = [](const Tensor& t) { return t; };
  auto to_host = [](const Tensor& t) { return t; };
  auto empty_on = [](const Shape& s) { return Tensor::empty(s, DType::F32); };
  const std::string where = "cpu " + cpu_features().brand + " (flash kernel: " + flash_attn_cpu_isa() + ")";
#endif
  const int threads = num_threads();
  std::printf("da3 bench attention: %s, %d threads, batch %lld, head_dim %lld, repeat %d\n", where.c_str(),
              threads, (long long)a.batch, (long long)a.head_dim, a.repeat);
  std::printf("%-6s %5s %7s  %-11s %-5s %10s %9s %7s %12s %11s\n", "model", "heads", "tokens", "backend", "dtype",
              "median_ms", "GFLOP/s", a.peak_gflops > 0 ? "%peak" : "", "max_rel_err", "scratch");
  std::vector<Row> rows;
  for (const std::string& dtype : a.dtypes)
    for (int64_t heads : a.heads)
      for (int64_t n : a.tokens) {
        const Shape shape{a.batch, n, heads, a.head_dim};
        const Tensor q_host = random_input(shape, 1), k_host = random_input(shape, 2), v_host = random_input(shape, 3);
        const Tensor q = to_device(q_host), k = to_device(k_host), v = to_device(v_host);
        // The error reference: manual on the first two heads (manual on every head of the
        // large configurations would take minutes).
        Tensor ref;
        if (a.check) {
          const int64_t rh = std::min<int64_t>(heads, 2);
          AttentionOptions ro;
          ro.backend = AttentionBackend::Manual;
          ref = attention(q_host.slice(2, 0, rh), k_host.slice(2, 0, rh), v_host.slice(2, 0, rh), ro);
        }
        double flash_ms = 0, sdpa_ms = 0;
        for (AttentionBackend be : backends) {
          if (be == AttentionBackend::Manual && n > a.manual_max_tokens) continue;
          AttentionOptions opts;
          opts.backend = be;
          opts.precision = dtype == "bf16" ? AttentionPrecision::BF16 : AttentionPrecision::F32;
          AttentionStats stats;
          opts.stats = &stats;
          Tensor out = empty_on(shape);
          attention_into(q, k, v, out, opts);  // warm-up (and primitive creation for sdpa)
          const int reps = be == AttentionBackend::Manual ? 1 : std::max(1, a.repeat);
          std::vector<double> ms;
          for (int r = 0; r < reps; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            attention_into(q, k, v, out, opts);
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
          }
          std::sort(ms.begin(), ms.end());
          const double med = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
          const double flops = 4.0 * double(n) * double(n) * double(a.head_dim) * double(heads) * double(a.batch);
          Row row{heads, a.head_dim, n, attention_backend_name(be), attention_precision_name(stats.precision),
                  a.device, threads, med, flops / (med * 1e-3) * 1e-9,
                  a.check ? max_rel_err(to_host(out), ref) : 0.0, stats.scratch_bytes};
          rows.push_back(row);
          if (be == AttentionBackend::FlashAttn) flash_ms = med;
          if (be == AttentionBackend::Sdpa) sdpa_ms = med;
          char peak[16] = "";
          if (a.peak_gflops > 0) std::snprintf(peak, sizeof peak, "%6.1f%%", 100.0 * row.gflops / a.peak_gflops);
          std::printf("%-6s %5lld %7lld  %-11s %-5s %10.2f %9.1f %7s %12.2e %11s\n", vit_name(heads), (long long)heads,
                      (long long)n, row.backend.c_str(), row.dtype.c_str(), med, row.gflops, peak, row.max_rel_err,
                      human_bytes(row.scratch_bytes).c_str());
        }
        if (flash_ms > 0 && sdpa_ms > 0) {
          std::printf("%-6s %5lld %7lld  flash_attn: %.2fx %s than sdpa\n", vit_name(heads), (long long)heads,
                      (long long)n, flash_ms < sdpa_ms ? sdpa_ms / flash_ms : flash_ms / sdpa_ms,
                      flash_ms < sdpa_ms ? "faster" : "slower");
        }
        std::fflush(stdout);
      }

  if (!a.json_path.empty()) {
    nlohmann::json arr = nlohmann::json::array();
    for (const Row& r : rows) {
      arr.push_back({{"heads", r.heads}, {"head_dim", r.head_dim}, {"tokens", r.tokens}, {"backend", r.backend},
                     {"dtype", r.dtype}, {"device", r.device}, {"threads", r.threads}, {"median_ms", r.median_ms}, {"gflops", r.gflops},
                     {"max_rel_err", r.max_rel_err}, {"scratch_bytes", r.scratch_bytes}});
    }
    std::ofstream f(a.json_path);
    DA3_CHECK(f.good(), "--json: cannot write " + a.json_path);
    f << arr.dump(2) << "\n";
    std::printf("wrote %zu rows to %s\n", rows.size(), a.json_path.c_str());
  }
  return 0;
}

}  // namespace

Action add_bench_attention_command(CLI::App& bench) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = bench.add_subcommand(
      "attention", "Time the attention backends (flash_attn, sdpa, manual) on DA3-shaped problems");
  cmd->add_option("--tokens", args->tokens, "Token counts (default: 256 529 1024 1369 1297 5188)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  cmd->add_option("--heads", args->heads, "Head counts (default: 6 12 16 24 = ViT-S/B/L/G)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  cmd->add_option("--backends", args->backends, "Backends to time (default: flash_attn sdpa manual)")->delimiter(',');
  cmd->add_option("--dtype", args->dtypes, "Compute precision: f32 and/or bf16 (default f32)")->delimiter(',');
  cmd->add_option("--head-dim", args->head_dim, "Head dim (default 64, as every DA3 size)")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", args->batch, "Batch (default 1)")->check(CLI::PositiveNumber);
  cmd->add_option("--repeat", args->repeat, "Timed runs per backend after one warm-up; the median is reported "
                                            "(default 5; manual runs once)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--manual-max-tokens", args->manual_max_tokens,
                  "Skip timing manual above this many tokens (default 1500)");
  cmd->add_option("--peak-gflops", args->peak_gflops,
                  "This machine's fp32 peak for these threads (from da3_fma_peak) to print % of peak");
  cmd->add_flag("!--no-check", args->check, "Skip the error check against manual");
  cmd->add_flag("--module", args->module, "Time the whole attention module (not implemented yet)");
  cmd->add_option("--json", args->json_path, "Also write the rows as a JSON array to this file");
  cmd->add_option("--device", args->device, "cpu (default) or cuda");
  return [args] { return run(*args); };
}

}  // namespace da3::cli
