// `loom completion bash`: a bash completion script generated from the CLI11 definition of the
// commands, so it never drifts from what loom accepts. Load it with
//   source <(loom completion bash)
// or install it as /etc/bash_completion.d/loom.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace loom::cli {

// The script for `app` (named app.get_name()): after the command name it completes subcommands
// and global options; after a subcommand, that subcommand's options. Options that take a value
// skip the word after them when looking for the subcommand.
std::string BashCompletion(const CLI::App& app, const std::string& program);

}  // namespace loom::cli
