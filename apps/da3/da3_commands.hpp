#pragma once
// Each subcommand registers itself on the CLI11 app and returns the action to run when chosen.
#include <CLI/CLI.hpp>
#include <functional>

namespace da3::cli {

using Action = std::function<int()>;

Action add_info_command(CLI::App& app);

}  // namespace da3::cli
