#include "bench/gemm/bench_options.h"

#include <charconv>
#include <string>

namespace loom::bench::gemm {

const char kUsage[] =
    "usage: loom-bench gemm [options]\n"
    "  --backend loom|cublas|cpu|auto  what to measure (auto: loom on a GPU, else cpu)\n"
    "  --shapes square|gpt|all         the sweep (default all)\n"
    "  --m M --n N --k K               one shape instead of the sweep (all three needed)\n"
    "  --op NN|NT|TN|TT                only this op (default: each case's own; NN for --m/--n/--k)\n"
    "  --out bf16|f32                  output type (default bf16)\n"
    "  --iters N                       timed iterations (default GPU 20, CPU 3)\n"
    "  --warmup N                      untimed iterations first (default GPU 5, CPU 1)\n"
    "  --no-check                      skip comparing loom's result with cuBLAS / sgemm\n"
    "  --portable                      GPU: also time loom's portable (sm_80) kernel alone\n"
    "  --json                          print one JSON array instead of a table\n";

namespace {

StatusOr<int64_t> ParseInt(std::string_view flag, std::string_view text, int64_t min) {
  int64_t v = 0;
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (err != std::errc() || end != text.data() + text.size() || v < min) {
    return InvalidArgument(std::string(flag) + ": expected an integer >= " + std::to_string(min) +
                           ", got '" + std::string(text) + "'");
  }
  return v;
}

StatusOr<Target> ParseTarget(std::string_view s) {
  if (s == "auto") return Target::kAuto;
  if (s == "loom") return Target::kLoom;
  if (s == "cublas") return Target::kCublas;
  if (s == "cpu") return Target::kCpu;
  return InvalidArgument("--backend: expected loom, cublas, cpu or auto, got '" + std::string(s) + "'");
}

}  // namespace

StatusOr<Options> ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      o.help = true;
      continue;
    }
    if (flag == "--json") {
      o.json = true;
      continue;
    }
    if (flag == "--no-check") {
      o.check = false;
      continue;
    }
    if (flag == "--portable") {
      o.portable = true;
      continue;
    }
    if (i + 1 >= argc) return InvalidArgument(std::string(flag) + ": unknown flag or missing value");
    const std::string_view value = argv[++i];
    if (flag == "--backend") {
      LOOM_ASSIGN_OR_RETURN(o.target, ParseTarget(value));
    } else if (flag == "--shapes") {
      if (value != "square" && value != "gpt" && value != "all") {
        return InvalidArgument("--shapes: expected square, gpt or all, got '" + std::string(value) + "'");
      }
      o.shapes = value;
    } else if (flag == "--m" || flag == "--n" || flag == "--k") {
      LOOM_ASSIGN_OR_RETURN(const int64_t v, ParseInt(flag, value, 1));
      (flag == "--m" ? o.m : flag == "--n" ? o.n : o.k) = v;
    } else if (flag == "--op") {
      auto ops = loom::gemm::ParseOps(value);
      if (!ops.ok()) return InvalidArgument("--op: expected NN, NT, TN or TT, got '" + std::string(value) + "'");
      o.ops = *ops;
    } else if (flag == "--out") {
      if (value != "bf16" && value != "f32") {
        return InvalidArgument("--out: expected bf16 or f32, got '" + std::string(value) + "'");
      }
      o.out_type = value == "f32" ? DType::kF32 : DType::kBF16;
    } else if (flag == "--iters") {
      LOOM_ASSIGN_OR_RETURN(const int64_t v, ParseInt(flag, value, 1));
      o.iters = static_cast<int>(v);
    } else if (flag == "--warmup") {
      LOOM_ASSIGN_OR_RETURN(const int64_t v, ParseInt(flag, value, 0));
      o.warmup = static_cast<int>(v);
    } else {
      return InvalidArgument(std::string(flag) + ": unknown flag (try 'loom-bench gemm --help')");
    }
  }
  const int given = o.m.has_value() + o.n.has_value() + o.k.has_value();
  if (given != 0 && given != 3) return InvalidArgument("--m, --n and --k go together");
  return o;
}

int GptTokens(bool gpu) { return gpu ? 8192 : 32; }

std::vector<Case> BuildCases(const Options& o, bool gpu) {
  std::vector<Case> cases;
  auto add = [&](std::string name, Op op_a, Op op_b, int64_t m, int64_t n, int64_t k) {
    if (o.ops && *o.ops != std::pair{op_a, op_b}) return;
    cases.push_back({std::move(name), loom::gemm::PackedDesc(op_a, op_b, m, n, k, 1, o.out_type)});
  };
  if (o.m) {
    const auto [op_a, op_b] = o.ops.value_or(std::pair{Op::kN, Op::kN});
    cases.push_back({"custom", loom::gemm::PackedDesc(op_a, op_b, *o.m, *o.n, *o.k, 1, o.out_type)});
    return cases;
  }
  if (o.shapes != "gpt") {
    const std::vector<int64_t> sizes =
        gpu ? std::vector<int64_t>{1024, 2048, 4096, 8192, 16384}
            : std::vector<int64_t>{256, 512, 1024, 2048};
    // The square sweep is NN unless --op names another.
    const auto [op_a, op_b] = o.ops.value_or(std::pair{Op::kN, Op::kN});
    for (const int64_t s : sizes) add("square", op_a, op_b, s, s, s);
  }
  if (o.shapes != "square") {
    struct Linear {
      const char* name;
      int in_mult, out_mult;  // in and out features as multiples of the hidden size
    };
    constexpr Linear kLayers[] = {{"qkv", 1, 3}, {"proj", 1, 1}, {"fc1", 1, 4}, {"fc2", 4, 1}};
    const int64_t t = GptTokens(gpu);
    for (const int64_t h : {4096, 8192}) {
      for (const Linear& l : kLayers) {
        const int64_t in = l.in_mult * h, out = l.out_mult * h;
        const std::string base = "gpt" + std::to_string(h) + "." + l.name;
        add(base + ".fwd", Op::kN, Op::kN, t, out, in);    // Y = X W
        add(base + ".dgrad", Op::kN, Op::kT, t, in, out);  // dX = dY W^T
        add(base + ".wgrad", Op::kT, Op::kN, in, out, t);  // dW = X^T dY
      }
    }
  }
  return cases;
}

}  // namespace loom::bench::gemm
