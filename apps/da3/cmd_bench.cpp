// `da3 bench`: the parent of the benchmark subcommands. A new benchmark is one file
// (cmd_bench_<what>.cpp) plus one line in kChildren below and its declaration in da3_commands.hpp.
#include <cstdio>
#include <utility>
#include <vector>

#include "da3_commands.hpp"

namespace da3::cli {

namespace {

using AddChild = Action (*)(CLI::App& bench);

constexpr AddChild kChildren[] = {
    add_bench_attention_command,
    add_bench_model_command,
};

}  // namespace

Action add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks (programs, not tests); see docs/perf.md");
  bench->require_subcommand(1);
  std::vector<std::pair<CLI::App*, Action>> children;
  for (AddChild add : kChildren) {
    Action action = add(*bench);
    children.emplace_back(bench->get_subcommands({}).back(), std::move(action));
  }
  return [children] {
    for (const auto& [sub, action] : children)
      if (sub->parsed()) return action();
    std::fprintf(stderr, "da3 bench: no benchmark given; see da3 bench --help\n");
    return 2;
  };
}

}  // namespace da3::cli
