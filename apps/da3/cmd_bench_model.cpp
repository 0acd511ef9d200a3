// `da3 bench model`: load time, forward time per stage, peak RSS and achieved GFLOP/s of the
// whole network on random input of a given size and view count.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <ctime>

#include "da3/model.hpp"
#include "da3/profile.hpp"
#include "da3/threads.hpp"
#include "da3_commands.hpp"
#include "model_path.hpp"
#include "scene_runner.hpp"
#include "kernels/cpu/fma_peak.hpp"

namespace da3::cli {

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of the whole process (all threads), in ms: on a machine other jobs share, the
// steadier measure of work done (with OMP_WAIT_POLICY=PASSIVE, so idle threads do not spin).
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : (v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]));
}

}  // namespace

Action add_bench_model_command(CLI::App& bench) {
  struct Opts {
    std::string model, size = "504x378", backend = "auto", device = "cpu", precision = "fp32";
    int views = 1, repeat = 3;
    bool json = false;
    double peak_gflops = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = bench.add_subcommand("model", "Time the whole network: load, forward per stage, peak RSS, GFLOP/s");
  cmd->add_option("-m,--model,--model-dir", o->model, "Model folder, its model.safetensors, or a name `da3 pull` fetched (see da3 infer --help)")->required();
  cmd->add_option("--size", o->size, "Input WIDTHxHEIGHT, multiples of 14 (default 504x378)");
  cmd->add_option("--views", o->views, "Number of views (default 1)")->check(positive());
  cmd->add_option("--repeat", o->repeat, "Timed runs after one warm-up; the median is reported (default 3)")
      ->check(positive());
  cmd->add_option("--backend", o->backend, "Attention backend: auto, flash_attn, sdpa, manual");
  cmd->add_option("--peak-gflops", o->peak_gflops,
                  "The machine's fp32 peak for % of peak; default: measured here before the runs with FMA "
                  "chains on every thread (as bench/da3_fma_peak does), a shared machine's busy cores lower it")
      ->check(non_negative());
  cmd->add_option("--device", o->device, kDeviceHelp);
  cmd->add_option("--precision", o->precision, kPrecisionHelp)->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_flag("--json", o->json, "Print one JSON object instead of text");
  return [o] {
    int w = 0, h = 0;
    if (std::sscanf(o->size.c_str(), "%dx%d", &w, &h) != 2 || w <= 0 || h <= 0)
      throw Error("--size must be WIDTHxHEIGHT, e.g. 504x378; got '" + o->size + "'");
    if (w % 14 || h % 14) throw Error("--size " + o->size + ": width and height must be multiples of 14");
    const auto backend = parse_attention_backend(o->backend);
    if (!backend) throw Error("unknown attention backend '" + o->backend + "'; use auto, flash_attn, sdpa or manual");

    const double t0 = now_ms();
    ModelOptions mo;
    mo.attention_backend = *backend;
    parse_device(o->device, mo);
    parse_precision(o->precision, mo);
    Model model = Model::load(resolve_model_dir(o->model), mo);
    const double load_ms = now_ms() - t0;

    Tensor x = Tensor::empty({1, o->views, 3, h, w});
    std::mt19937 rng(7);
    std::normal_distribution<float> nd;
    for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = nd(rng);

    model.forward(x);  // warm-up: oneDNN kernel generation, first touch of weights and tensor blocks
    // Converted / folded / packed weights (made at load or on first use; the rest stay mapped):
    // what is still live once the warm-up's activations are gone, but the input images.
    const uint64_t live = tensor_bytes_live();
    const uint64_t weights_owned = live > x.nbytes() ? live - x.nbytes() : 0;
    std::vector<double> total, cpu, backbone, patch_embed, blocks, head, camera, other;
    uint64_t flops = 0;
    reset_tensor_bytes_peak();
    for (int r = 0; r < o->repeat; ++r) {
      reset_flop_counter();
      const double s = now_ms(), c = process_cpu_ms();
      model.forward(x);
      total.push_back(now_ms() - s);
      cpu.push_back(process_cpu_ms() - c);
      flops = flops_counted();
      const StageTimes t = model.last_stage_times();
      backbone.push_back(t.backbone_ms);
      patch_embed.push_back(t.patch_embed_ms);
      blocks.push_back(t.backbone_ms - t.patch_embed_ms);
      head.push_back(t.head_ms);
      camera.push_back(t.camera_ms);
      other.push_back(t.other_ms);
    }
    const double med = median(total);
    const double peak = o->peak_gflops > 0 ? o->peak_gflops : kernels::measure_fma_peak(num_threads()).gflops;
    const double gflops = static_cast<double>(flops) / (med * 1e6);
    const uint64_t rss = peak_rss_bytes();
    const uint64_t tensors = tensor_bytes_peak();
    if (o->json) {
      nlohmann::ordered_json j = {{"preset", model.config().model_name}, {"height", h}, {"width", w},
                                  {"views", o->views}, {"threads", num_threads()}, {"precision", o->precision},
                                  {"backend", attention_backend_name(resolve_attention_backend(Device::CPU, {}))},
                                  {"load_ms", load_ms}, {"median_ms", med}, {"median_cpu_ms", median(cpu)},
                                  {"stages_ms", {{"backbone", median(backbone)}, {"patch_embed", median(patch_embed)},
                                                 {"blocks", median(blocks)}, {"head", median(head)},
                                                 {"camera", median(camera)}, {"other", median(other)}}},
                                  {"gflop", static_cast<double>(flops) / 1e9}, {"gflops", gflops}, {"peak_gflops", peak},
                                  {"peak_rss_bytes", rss}, {"peak_tensor_bytes", tensors},
                                  {"owned_weight_bytes", weights_owned}};
      if (*backend != AttentionBackend::Auto) j["backend"] = attention_backend_name(*backend);
      std::printf("%s\n", j.dump().c_str());
      return 0;
    }
    std::printf("model %s (%s), %dx%d, %d view(s), %d threads, %s\n", o->model.c_str(),
                model.config().model_name.c_str(), w, h, o->views, num_threads(), o->precision.c_str());
    std::printf("load            %9.1f ms\n", load_ms);
    std::printf("forward median  %9.1f ms  (%d runs)\n", med, o->repeat);
    std::printf("  CPU time      %9.1f ms  (all threads; steadier than wall time on a shared machine, "
                "with OMP_WAIT_POLICY=PASSIVE)\n", median(cpu));
    std::printf("  backbone      %9.1f ms\n", median(backbone));
    std::printf("    patch embed %9.1f ms\n", median(patch_embed));
    std::printf("    blocks      %9.1f ms\n", median(blocks));
    std::printf("  head          %9.1f ms\n", median(head));
    std::printf("  camera        %9.1f ms\n", median(camera));
    std::printf("  other         %9.1f ms\n", median(other));
    std::printf("work            %9.2f GFLOP (matmuls, convolutions, attention; Winograd layers count the "
                "multiply-adds they do) -> %.1f GFLOP/s",
                static_cast<double>(flops) / 1e9, gflops);
    if (peak > 0)
      std::printf(" (%.0f %% of %s %.1f GFLOP/s peak)", 100.0 * gflops / peak, o->peak_gflops > 0 ? "the given" : "a measured",
                  peak);
    std::printf("\npeak RSS        %9.1f MB (checkpoint %.1f MB)\n", static_cast<double>(rss) / 1e6,
                static_cast<double>(model.checkpoint_bytes()) / 1e6);
    std::printf("tensors peak    %9.1f MB (%.1f MB weights copied at load or first use + %.1f MB activations and "
                "input)\n",
                static_cast<double>(tensors) / 1e6, static_cast<double>(weights_owned) / 1e6,
                static_cast<double>(tensors - weights_owned) / 1e6);
    return 0;
  };
}

}  // namespace da3::cli
