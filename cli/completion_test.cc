#include "cli/completion.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace loom::cli {
namespace {

// Sources `script` in a real bash, sets COMP_WORDS to `line` split on spaces (a trailing space
// means an empty word to complete) and prints what the function offers.
std::string Complete(const std::string& script, const std::string& line) {
  char path[] = "/tmp/loom-completion-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return "mkstemp failed";
  close(fd);
  std::ofstream(path) << script;
  std::string cmd = "bash --norc -c 'source " + std::string(path) + "; read -ra COMP_WORDS <<< \"" + line +
                    "\"; COMP_CWORD=${#COMP_WORDS[@]}; [[ \"" + line + "\" == *\" \" ]] && COMP_WORDS+=(\"\") || "
                    "((COMP_CWORD--)); _loom; echo \"${COMPREPLY[*]}\"' 2>&1";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
    pclose(p);
  }
  std::remove(path);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

CLI::App& TestApp() {
  static CLI::App* app = [] {
    auto* a = new CLI::App("test");
    static std::string server;
    static int gpus;
    static bool all;
    a->add_option("--server", server, "");
    auto* submit = a->add_subcommand("submit", "");
    submit->add_option("--gpus,-G", gpus, "");
    submit->add_option("--gpus-per-node", gpus, "");
    auto* queue = a->add_subcommand("queue", "");
    queue->add_flag("--all,-a", all, "");
    return a;
  }();
  return *app;
}

TEST(BashCompletion, CompletesSubcommands) {
  std::string script = BashCompletion(TestApp(), "loom");
  EXPECT_EQ(Complete(script, "loom su"), "submit");
  EXPECT_EQ(Complete(script, "loom q"), "queue");
}

TEST(BashCompletion, CompletesTheSubcommandsOptions) {
  std::string script = BashCompletion(TestApp(), "loom");
  EXPECT_EQ(Complete(script, "loom submit --gp"), "--gpus --gpus-per-node");
  EXPECT_EQ(Complete(script, "loom queue --a"), "--all");
}

TEST(BashCompletion, AGlobalOptionsValueIsNotTheSubcommand) {
  std::string script = BashCompletion(TestApp(), "loom");
  EXPECT_EQ(Complete(script, "loom --server host:1 que"), "queue");
  EXPECT_EQ(Complete(script, "loom --server host:1 queue --a"), "--all");
}

TEST(BashCompletion, TheRealLoomScriptLoadsAndCompletes) {
  std::string script;
  if (FILE* p = popen(LOOM_CLI " completion bash", "r")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) script.append(buf, n);
    EXPECT_EQ(pclose(p), 0);
  }
  EXPECT_EQ(Complete(script, "loom sub"), "submit");
  EXPECT_EQ(Complete(script, "loom submit --gpus-p"), "--gpus-per-node");
  EXPECT_EQ(Complete(script, "loom --server 127.0.0.1:1 up --http"), "--http-listen");
  EXPECT_EQ(Complete(script, "loom ho"), "hold");
  EXPECT_EQ(Complete(script, "loom rel"), "release");
  EXPECT_EQ(Complete(script, "loom submit --arr"), "--array");
  EXPECT_EQ(Complete(script, "loom submit --dep"), "--dependency");
}

}  // namespace
}  // namespace loom::cli
