// The da3 command-line tool. Every failure ends as one message on stderr and a non-zero exit.
#include <cstdio>
#include <exception>
#include <vector>

#include "da3/error.hpp"
#include "da3/log.hpp"
#include "da3/threads.hpp"
#include "da3/version.hpp"
#include "da3_commands.hpp"
#include "io/atomic_file.hpp"

int main(int argc, char** argv) {
  // Ctrl-C or a kill during an export removes the half-written temporary files.
  da3::install_temp_file_cleanup_on_signals();
  CLI::App app{"da3: Depth Anything 3 in C++ (depth, pose, sky and metric depth) on CPU and CUDA"};
  app.set_version_flag("--version", std::string("da3.cpp ") + da3::version());
  app.require_subcommand(1);
  // Global options are accepted after the subcommand too (`da3 infer -t 1 ...`): an option a
  // subcommand does not know falls through to its parent. Subcommands inherit this setting
  // when created, so it is set before any is added.
  app.fallthrough();
  int threads = 0;
  app.add_option("-t,--threads", threads,
                 "Threads to use, at most " + std::to_string(da3::kMaxThreads) +
                     " (a larger number is an error; default: env DA3_NUM_THREADS, else all cores)")
      ->check(CLI::Range(0, da3::kMaxThreads));
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log progress (same as DA3_LOG_LEVEL=info)");

  std::vector<std::pair<CLI::App*, da3::cli::Action>> commands;
  auto add = [&](da3::cli::Action a) { commands.emplace_back(app.get_subcommands({}).back(), std::move(a)); };
  add(da3::cli::add_info_command(app));
  add(da3::cli::add_forward_command(app));
  add(da3::cli::add_infer_command(app));
  add(da3::cli::add_video_command(app));
  add(da3::cli::add_colmap_command(app));
  add(da3::cli::add_auto_command(app));
  add(da3::cli::add_pull_command(app));
  add(da3::cli::add_serve_command(app));
  add(da3::cli::add_bench_command(app));

  for (CLI::App* sub : app.get_subcommands({}))
    sub->footer(sub->get_footer() + (sub->get_footer().empty() ? "" : "\n") +
                "Global options, before or after the subcommand: -t/--threads N, -v/--verbose (da3 --help).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (verbose) da3::set_log_level(da3::LogLevel::Info);
    da3::set_num_threads(threads);
    for (auto& [sub, action] : commands)
      if (sub->parsed()) return action();
    std::fprintf(stderr, "da3: no command given; see da3 --help\n");
    return 2;
  } catch (const da3::Error& e) {
    std::fprintf(stderr, "da3: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "da3: internal error: %s\n", e.what());
    return 3;
  }
}
