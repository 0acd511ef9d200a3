#pragma once
// Each subcommand registers itself on the CLI11 app and returns the action to run when chosen.
#include <CLI/CLI.hpp>
#include <functional>

namespace da3::cli {

using Action = std::function<int()>;

Action add_info_command(CLI::App& app);
Action add_forward_command(CLI::App& app);
Action add_infer_command(CLI::App& app);
Action add_video_command(CLI::App& app);
Action add_pull_command(CLI::App& app);

// `da3 bench <what>`: cmd_bench.cpp creates `bench` and lists its children; each child adds
// itself to the `bench` app it is given and returns its action (cmd_bench_<what>.cpp).
Action add_bench_command(CLI::App& app);
Action add_bench_attention_command(CLI::App& bench);
Action add_bench_model_command(CLI::App& bench);

}  // namespace da3::cli
