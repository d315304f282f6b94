// Command line of `loom-bench gemm` and the list of GEMMs it measures.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kernels/gemm/gemm.h"

namespace loom::bench::gemm {

using loom::gemm::DType;
using loom::gemm::GemmDesc;
using loom::gemm::Op;

enum class Target { kAuto, kLoom, kCublas, kCpu };

struct Options {
  Target target = Target::kAuto;
  std::string shapes = "all";  // square | gpt | all
  std::optional<int64_t> m, n, k;
  std::optional<std::pair<Op, Op>> ops;  // restricts the sweep to one op
  int iters = 0;                         // 0: the device's default (GPU 20, CPU 3)
  int warmup = -1;                       // -1: the device's default (GPU 5, CPU 1)
  DType out_type = DType::kBF16;
  bool json = false;
  bool check = true;
  bool portable = false;  // GPU: also time Loom's portable kernel alone (--portable)
  bool help = false;
};

// Parses argv (argv[0] is "gemm"). Errors are one line, for the caller to print and exit 2.
StatusOr<Options> ParseOptions(int argc, char** argv);
extern const char kUsage[];

struct Case {
  std::string name;  // "square", "gpt4096.qkv.fwd", ...
  GemmDesc desc;
};

// The sweep: square sizes and the linear layers of a GPT block (QKV, attention output, MLP up and
// down) at hidden 4096 and 8192, forward (NN), backward-data (NT) and backward-weight (TN).
// `gpu` picks the sizes: square 1024..16384 and 8192 tokens on a GPU; 256..2048 and 32 tokens on
// a CPU, so the default CPU sweep finishes in about a minute on two cores.
std::vector<Case> BuildCases(const Options& options, bool gpu);
int GptTokens(bool gpu);

}  // namespace loom::bench::gemm
