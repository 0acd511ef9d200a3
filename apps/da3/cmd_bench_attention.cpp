// `da3 bench attention`: times each attention backend on DA3-shaped problems (ViT-S/B/L/G head
// counts, head dim 64, the token counts of 1 and 4 views) and prints, per configuration, each
// backend's median time, GFLOP/s (4·N²·D·heads per call), error against `manual`, and the
// flash-vs-sdpa speedup. --json writes the same rows as one JSON array. On --device cuda,
// --cuda-flash-kernels sweeps the CUDA flash kernels (fa2, and each compiled tile of the Hopper
// sm90 kernel), one flash_attn row each, and --input-dtype stores q, k, v and out in bf16 / f16
// (what the sm90 kernel reads in place); rates are then TFLOP/s. --module times the
// model's whole attention module (qkv projection, QK-norm, RoPE, attention, output projection)
// instead of the attention call alone, so a kernel's gain can be seen against the layer's cost.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "da3/attention.hpp"
#include "da3/checkpoint.hpp"
#include "da3/cpu.hpp"
#include "da3/error.hpp"
#include "da3/safetensors.hpp"
#include "da3/threads.hpp"
#include "da3_commands.hpp"
#include "io/image.hpp"
#include "model/dinov2/attention.hpp"
#include "model/weights.hpp"

#include "da3/cuda.hpp"

#ifdef DA3_WITH_CUDA
#include "attention/cuda_path.hpp"
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
  std::vector<std::string> cuda_flash_kernels;  // empty: as configured (DA3_CUDA_FLASH_KERNEL)
  std::string input_dtype = "f32";              // q, k, v and out as stored (kernel mode)
};

struct Row {
  int64_t heads, head_dim, tokens;
  std::string backend, dtype, device;
  int threads;
  double median_ms, gflops;
  double max_rel_err;  // NaN: not checked (module mode prints "-" and writes null)
  size_t scratch_bytes;
  std::string kernel;  // AttentionStats::kernel
};

AttentionOptions bench_options(AttentionBackend be, const std::string& dtype, AttentionStats* stats) {
  AttentionOptions o;
  o.backend = be;
  o.precision = dtype == "bf16" ? AttentionPrecision::BF16 : AttentionPrecision::F32;
  o.stats = stats;
  return o;
}

const char* vit_name(int64_t heads) {
  switch (heads) {
    case 6: return "ViT-S";
    case 12: return "ViT-B";
    case 16: return "ViT-L";
    case 24: return "ViT-G";
    default: return "";
  }
}

Tensor random_tensor(const Shape& shape, uint32_t seed, float stddev = 1.f, float mean = 0.f) {
  Tensor t = Tensor::empty(shape, DType::F32);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(mean, stddev);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

// max |out - ref| / max |ref| over the heads `ref` covers (the first ref.size(2) heads). A module
// output (B, N, C) against a full reference is compared whole.
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

double median(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
}

// Wall time of one call, GPU work included: CUDA work is queued asynchronously, so the clock
// stops only once the device has finished (cuda_synchronize() is a no-op without CUDA).
template <class F>
double time_ms(F&& call) {
  cuda_synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  call();
  cuda_synchronize();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string human_bytes(size_t b) {
  char buf[32];
  if (b >= (size_t(1) << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / (1 << 20));
  else std::snprintf(buf, sizeof buf, "%.1f KiB", double(b) / 1024);
  return buf;
}

// Removes its directory on every exit path, including a failed checkpoint open.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("da3-bench-attention-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// The model's own Attention module with QK-norm and RoPE on (every DA3 block from qknorm_start /
// rope_start on), bound to seeded random parameters. Weights binds only from a Checkpoint and a
// Checkpoint opens only a directory, so the parameters take the same road a real model's do: a
// safetensors file in a scratch directory. The module then owns or maps what it needs (a mapping
// outlives its unlinked file), so the directory can go before anything is timed.
model::Attention random_attention_module(int64_t heads, int64_t head_dim, uint32_t seed) {
  const int64_t dim = heads * head_dim;
  // Weights at 1/sqrt(C) keep the activations O(1) through both projections; norm affine
  // parameters near (1, 0) keep QK-norm's output, and so the softmax, away from saturation, where
  // an error check would see nothing.
  const float w_std = 1.f / std::sqrt(float(dim));
  const std::vector<std::pair<std::string, Tensor>> params{
      {"qkv.weight", random_tensor({3 * dim, dim}, seed, w_std)},
      {"qkv.bias", random_tensor({3 * dim}, seed + 1, 0.02f)},
      {"proj.weight", random_tensor({dim, dim}, seed + 2, w_std)},
      {"proj.bias", random_tensor({dim}, seed + 3, 0.02f)},
      {"q_norm.weight", random_tensor({head_dim}, seed + 4, 0.1f, 1.f)},
      {"q_norm.bias", random_tensor({head_dim}, seed + 5, 0.1f)},
      {"k_norm.weight", random_tensor({head_dim}, seed + 6, 0.1f, 1.f)},
      {"k_norm.bias", random_tensor({head_dim}, seed + 7, 0.1f)},
  };
  const ScratchDir dir;
  save_safetensors(dir.file("model.safetensors"), params);
  io::write_file_atomic(dir.file("config.json"), std::string("{}\n"));
  const Checkpoint ckpt = Checkpoint::open(dir.str());
  const model::Weights w(ckpt);
  model::Attention mod(w, dim, static_cast<int>(heads), /*qk_norm=*/true, /*rope=*/true,
                       /*rope_freq=*/100.f /* config.json's default */);
  w.finish();  // every parameter above was bound, with the shape the module expects
  return mod;
}

// RoPE positions for n tokens as one view of DA3's local attention sees them: one special token,
// then the patches of the most nearly square grid with at least n - 1 cells, cut to n rows (so
// every token count works, not only 1 + h·w).
Tensor module_positions(int64_t n) {
  const int64_t patches = std::max<int64_t>(n - 1, 1);
  int64_t gw = static_cast<int64_t>(std::sqrt(double(patches)));
  while (gw * gw < patches) ++gw;
  const int64_t gh = (patches + gw - 1) / gw;
  return rope_positions(gh, gw, 1, /*nodiff=*/false).slice(0, 0, n).contiguous();
}

int run(const BenchArgs& a) {
  std::vector<AttentionBackend> backends;
  for (const std::string& s : a.backends) {
    auto b = parse_attention_backend(s);
    DA3_CHECK(b && *b != AttentionBackend::Auto, "--backends: '" + s + "' is not one of flash_attn, sdpa, manual");
    backends.push_back(*b);
  }
  for (const std::string& d : a.dtypes) DA3_CHECK(d == "f32" || d == "bf16", "--dtype: '" + d + "' is not f32 or bf16");
  DA3_CHECK(a.input_dtype == "f32" || a.input_dtype == "bf16" || a.input_dtype == "f16",
            "--input-dtype: '" + a.input_dtype + "' is not f32, bf16 or f16");
  const DType in_dtype = a.input_dtype == "bf16" ? DType::BF16 : a.input_dtype == "f16" ? DType::F16 : DType::F32;

  DA3_CHECK(a.device == "cpu" || a.device == "cuda", "--device: '" + a.device + "' is not cpu or cuda");
  const bool gpu = a.device == "cuda";
  DA3_CHECK(!(a.module && gpu), "--module runs on the CPU only: the model's layers (Linear, QK-norm, RoPE) have "
                                "no CUDA path yet; drop --module to time the CUDA attention kernels alone");
  DA3_CHECK(!a.module || a.head_dim % 4 == 0, "--module: RoPE needs a head dim that is a multiple of 4, got " +
                                                  std::to_string(a.head_dim));
  DA3_CHECK(a.cuda_flash_kernels.empty() || gpu, "--cuda-flash-kernels needs --device cuda");
  DA3_CHECK(in_dtype == DType::F32 || (gpu && !a.module), "--input-dtype bf16 / f16 needs --device cuda (kernel mode)");
#ifdef DA3_WITH_CUDA
  DA3_CHECK(!gpu || !cuda_devices().empty(), "--device cuda: no CUDA device (" + cuda_status() + ")");
  auto to_device = [gpu](const Tensor& t) { return gpu ? attn::cuda_copy(t, Device::CUDA) : t; };
  auto to_host = [gpu](const Tensor& t) { return gpu ? attn::cuda_copy(t, Device::CPU) : t; };
  auto empty_on = [gpu, in_dtype](const Shape& s) {
    return gpu ? attn::cuda_empty(s, in_dtype) : Tensor::empty(s, DType::F32);
  };
  for (const std::string& k : a.cuda_flash_kernels) attn::set_cuda_flash_kernel(k);  // checks each spec early
  attn::set_cuda_flash_kernel("");
  const std::string kernel_note = gpu ? ", CUDA flash kernel " + attn::cuda_flash_kernel_spec() : std::string();
  const std::string where =
      gpu ? "cuda:0 " + cuda_devices()[0].name
          : "cpu " + cpu_features().brand + " (flash kernel: " + flash_attn_cpu_isa() + ")";
#else
  DA3_CHECK(!gpu, "--device cuda: this build has no CUDA");
  auto to_device = [](const Tensor& t) { return t; };
  auto to_host = [](const Tensor& t) { return t; };
  auto empty_on = [](const Shape& s) { return Tensor::empty(s, DType::F32); };
  const std::string kernel_note;
  const std::string where = "cpu " + cpu_features().brand + " (flash kernel: " + flash_attn_cpu_isa() + ")";
#endif
  const int threads = num_threads();
  const std::string mode = a.module ? "module" : "kernel";
  std::printf("da3 bench attention, %s: %s, %d threads, batch %lld, head_dim %lld, repeat %d, %s operands%s\n",
              a.module ? "module mode (qkv + QK-norm + RoPE + attention + proj; GFLOP/s counts both projections)"
                       : "kernel mode (the attention call alone)",
              where.c_str(), threads, (long long)a.batch, (long long)a.head_dim, a.repeat, dtype_name(in_dtype),
              kernel_note.c_str());
  // On the GPU the rates are TFLOP/s (4·B·H·N²·D per call), on the CPU GFLOP/s.
  const double rate_div = gpu ? 1000.0 : 1.0;
  std::printf("%-6s %5s %7s  %-11s %-5s %10s %9s %7s %12s %11s  %s\n", "model", "heads", "tokens", "backend", "dtype",
              "median_ms", gpu ? "TFLOP/s" : "GFLOP/s", a.peak_gflops > 0 ? "%peak" : "", "max_rel_err", "scratch",
              "kernel");
  std::vector<Row> rows;
  std::vector<std::pair<std::string, double>> flash_ms;  // (kernel, ms) of this configuration's flash rows
  double sdpa_ms = 0;
  auto emit = [&](const Row& row) {
    rows.push_back(row);
    if (row.backend == attention_backend_name(AttentionBackend::FlashAttn)) flash_ms.emplace_back(row.kernel, row.median_ms);
    if (row.backend == attention_backend_name(AttentionBackend::Sdpa)) sdpa_ms = row.median_ms;
    char peak[16] = "";
    if (a.peak_gflops > 0) std::snprintf(peak, sizeof peak, "%6.1f%%", 100.0 * row.gflops / a.peak_gflops);
    char err[16] = "-";
    if (!std::isnan(row.max_rel_err)) std::snprintf(err, sizeof err, "%.2e", row.max_rel_err);
    std::printf("%-6s %5lld %7lld  %-11s %-5s %10.3f %9.1f %7s %12s %11s  %s\n", vit_name(row.heads),
                (long long)row.heads, (long long)row.tokens, row.backend.c_str(), row.dtype.c_str(), row.median_ms,
                row.gflops / rate_div, peak, err, human_bytes(row.scratch_bytes).c_str(), row.kernel.c_str());
  };
  auto reps_for = [&](AttentionBackend be) { return be == AttentionBackend::Manual ? 1 : std::max(1, a.repeat); };

  for (const std::string& dtype : a.dtypes)
    for (int64_t heads : a.heads) {
      const int64_t dim = heads * a.head_dim;
      model::Attention mod;
      if (a.module) mod = random_attention_module(heads, a.head_dim, 10);
      for (int64_t n : a.tokens) {
        flash_ms.clear();
        sdpa_ms = 0;
        const double attn_flops = 4.0 * double(n) * double(n) * double(a.head_dim) * double(heads) * double(a.batch);
        if (a.module) {
          const double proj_flops = 2.0 * double(a.batch) * double(n) * double(dim) * double(4 * dim);  // qkv + proj
          const Tensor x = random_tensor({a.batch, n, dim}, 1);
          const Tensor pos = module_positions(n);
          // The reference is the whole module with manual attention; it covers every head (the
          // output projection mixes them), so it is skipped where manual would take minutes.
          Tensor ref;
          if (a.check && n <= a.manual_max_tokens) {
            AttentionOptions ro;
            ro.backend = AttentionBackend::Manual;
            ro.precision = AttentionPrecision::F32;
            ref = mod.forward(x, pos, ro);
          }
          for (AttentionBackend be : backends) {
            if (be == AttentionBackend::Manual && n > a.manual_max_tokens) continue;
            AttentionStats stats;
            const AttentionOptions opts = bench_options(be, dtype, &stats);
            Tensor out;
            // The reference run already warmed manual up (same options but the precision, which
            // manual ignores); a second slow run would add nothing.
            if (!(be == AttentionBackend::Manual && ref.defined())) out = mod.forward(x, pos, opts);
            std::vector<double> ms;
            for (int r = 0; r < reps_for(be); ++r) ms.push_back(time_ms([&] { out = mod.forward(x, pos, opts); }));
            const double med = median(ms);
            emit(Row{heads, a.head_dim, n, attention_backend_name(be), attention_precision_name(stats.precision),
                     a.device, threads, med, (attn_flops + proj_flops) / (med * 1e-3) * 1e-9,
                     ref.defined() ? max_rel_err(out, ref) : std::numeric_limits<double>::quiet_NaN(),
                     stats.scratch_bytes, stats.kernel});
          }
        } else {
          const Shape shape{a.batch, n, heads, a.head_dim};
          const Tensor q_host = random_tensor(shape, 1), k_host = random_tensor(shape, 2),
                       v_host = random_tensor(shape, 3);
          const Tensor q = to_device(q_host.to(in_dtype)), k = to_device(k_host.to(in_dtype)),
                       v = to_device(v_host.to(in_dtype));
          // The error reference: manual on the first two heads (manual on every head of the
          // large configurations would take minutes).
          Tensor ref;
          if (a.check) {
            const int64_t rh = std::min<int64_t>(heads, 2);
            AttentionOptions ro;
            ro.backend = AttentionBackend::Manual;
            ref = attention(q_host.slice(2, 0, rh), k_host.slice(2, 0, rh), v_host.slice(2, 0, rh), ro);
          }
          for (AttentionBackend be : backends) {
            if (be == AttentionBackend::Manual && n > a.manual_max_tokens) continue;
            // flash_attn on the GPU: one row per --cuda-flash-kernels entry ("" = as configured).
            std::vector<std::string> kernels{""};
            if (be == AttentionBackend::FlashAttn && !a.cuda_flash_kernels.empty()) kernels = a.cuda_flash_kernels;
            for (const std::string& kernel : kernels) {
#ifdef DA3_WITH_CUDA
              if (gpu) attn::set_cuda_flash_kernel(kernel);
#endif
              AttentionStats stats;
              const AttentionOptions opts = bench_options(be, dtype, &stats);
              Tensor out = empty_on(shape);
              attention_into(q, k, v, out, opts);  // warm-up (and primitive creation for sdpa)
              std::vector<double> ms;
              for (int r = 0; r < reps_for(be); ++r) ms.push_back(time_ms([&] { attention_into(q, k, v, out, opts); }));
              const double med = median(ms);
              emit(Row{heads, a.head_dim, n, attention_backend_name(be), attention_precision_name(stats.precision),
                       a.device, threads, med, attn_flops / (med * 1e-3) * 1e-9,
                       a.check ? max_rel_err(to_host(out), ref) : 0.0, stats.scratch_bytes, stats.kernel});
            }
#ifdef DA3_WITH_CUDA
            if (gpu) attn::set_cuda_flash_kernel("");
#endif
          }
        }
        for (const auto& [kernel, fms] : flash_ms) {
          if (fms <= 0 || sdpa_ms <= 0) continue;
          std::printf("%-6s %5lld %7lld  flash_attn: %.2fx %s than sdpa%s%s%s\n", vit_name(heads), (long long)heads,
                      (long long)n, fms < sdpa_ms ? sdpa_ms / fms : fms / sdpa_ms, fms < sdpa_ms ? "faster" : "slower",
                      a.module ? " (whole module)" : "", flash_ms.size() > 1 ? ", " : "",
                      flash_ms.size() > 1 ? kernel.c_str() : "");
        }
        std::fflush(stdout);
      }
    }

  if (!a.json_path.empty()) {
    nlohmann::json arr = nlohmann::json::array();
    for (const Row& r : rows) {
      const nlohmann::json err = std::isnan(r.max_rel_err) ? nlohmann::json(nullptr) : nlohmann::json(r.max_rel_err);
      arr.push_back({{"mode", mode}, {"heads", r.heads}, {"head_dim", r.head_dim}, {"tokens", r.tokens},
                     {"backend", r.backend}, {"dtype", r.dtype}, {"device", r.device}, {"threads", r.threads},
                     {"median_ms", r.median_ms}, {"gflops", r.gflops}, {"tflops", r.gflops / 1000.0},
                     {"batch", a.batch}, {"input_dtype", dtype_name(in_dtype)}, {"kernel", r.kernel},
                     {"max_rel_err", err},
                     {"scratch_bytes", r.scratch_bytes}});
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
      "attention", "Time the attention backends (flash_attn, sdpa, manual) on DA3-shaped problems, the "
      "attention call alone or (--module) the whole attention layer");
  cmd->add_option("--tokens", args->tokens, "Token counts (default: 256 529 1024 1369 1297 5188)")
      ->delimiter(',')
      ->check(positive());
  cmd->add_option("--heads", args->heads, "Head counts (default: 6 12 16 24 = ViT-S/B/L/G)")
      ->delimiter(',')
      ->check(positive());
  cmd->add_option("--backends", args->backends, "Backends to time (default: flash_attn sdpa manual)")->delimiter(',');
  cmd->add_option("--dtype", args->dtypes, "Compute precision: f32 and/or bf16 (default f32)")->delimiter(',');
  cmd->add_option("--head-dim", args->head_dim, "Head dim (default 64, as every DA3 size)")->check(positive());
  cmd->add_option("--batch", args->batch, "Batch (default 1)")->check(positive());
  cmd->add_option("--repeat", args->repeat, "Timed runs per backend after one warm-up; the median is reported "
                                            "(default 5; manual runs once)")
      ->check(positive());
  cmd->add_option("--manual-max-tokens", args->manual_max_tokens,
                  "Skip timing manual above this many tokens (default 1500); with --module also the error check");
  cmd->add_option("--peak-gflops", args->peak_gflops,
                  "This machine's fp32 peak for these threads (from da3_fma_peak) to print % of peak")
      ->check(non_negative());
  // A callback, not a negated flag: CLI11 prints a negated flag's default as "--no-check{false}".
  cmd->add_flag_callback("--no-check", [args] { args->check = false; }, "Skip the error check against manual");
  cmd->add_flag("--module", args->module,
                "Time the model's whole attention module instead of the attention call: qkv projection, "
                "QK-norm, RoPE, attention, output projection (random weights, CPU only); GFLOP/s then "
                "counts 8·N·C² for the projections plus 4·N²·D·heads, and the error is against the "
                "module with manual attention (not checked above --manual-max-tokens)");
  cmd->add_option("--json", args->json_path, "Also write the rows as a JSON array to this file");
  cmd->add_option("--device", args->device, "cpu (default) or cuda");
  cmd->add_option("--cuda-flash-kernels", args->cuda_flash_kernels,
                  "--device cuda: time flash_attn once per CUDA flash kernel: auto, fa2, sm90 or sm90:<tile> "
                  "(tiles: 128x128x2, 128x128x3, 128x176x2, 192x128x2; default: as DA3_CUDA_FLASH_KERNEL says). "
                  "sm90 (Hopper, cc 9.x) is compiled but has not yet run on a GPU")
      ->delimiter(',');
  cmd->add_option("--input-dtype", args->input_dtype,
                  "--device cuda: store q, k, v and out as f32 (default), bf16 or f16 (bf16 / f16 operands are read "
                  "in place by the sm90 kernel, f32 ones converted first)");
  return [args] { return run(*args); };
}

}  // namespace da3::cli
