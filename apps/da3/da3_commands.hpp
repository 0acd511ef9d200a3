#pragma once
// Each subcommand registers itself on the CLI11 app and returns the action to run when chosen.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>

namespace da3::cli {

using Action = std::function<int()>;

// Number checks with a readable message: CLI11's PositiveNumber / NonNegativeNumber print their
// upper bound, DBL_MAX, as a 309-digit number ("--views 0").
inline CLI::Validator number_at_least(double lo, bool strictly_above) {
  const std::string what = strictly_above ? "a number above " : "a number of at least ";
  const std::string bound = CLI::detail::to_string(lo);
  return CLI::Validator(
      [=](std::string& in) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(in.c_str(), &end);
        if (end == in.c_str() || *end != '\0' || !std::isfinite(v) || (strictly_above ? !(v > lo) : !(v >= lo)))
          return "must be " + what + bound + ", got " + in;
        return {};
      },
      strictly_above ? "> " + bound : ">= " + bound);
}
inline CLI::Validator positive() { return number_at_least(0, true); }
inline CLI::Validator non_negative() { return number_at_least(0, false); }

Action add_info_command(CLI::App& app);
Action add_forward_command(CLI::App& app);
Action add_infer_command(CLI::App& app);
Action add_video_command(CLI::App& app);
Action add_colmap_command(CLI::App& app);
Action add_auto_command(CLI::App& app);
Action add_pull_command(CLI::App& app);
Action add_serve_command(CLI::App& app);  // cmd_serve.cpp + server/

// `da3 bench <what>`: cmd_bench.cpp creates `bench` and lists its children; each child adds
// itself to the `bench` app it is given and returns its action (cmd_bench_<what>.cpp).
Action add_bench_command(CLI::App& app);
Action add_bench_attention_command(CLI::App& bench);
Action add_bench_model_command(CLI::App& bench);

}  // namespace da3::cli
