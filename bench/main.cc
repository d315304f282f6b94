// loom-bench: one entry point, one subcommand per benchmark family. Subcommands are linked in only
// when their folder is built (the GPU machine builds gemm and coll without the control plane).
#include <cstdio>
#include <cstring>
#include <string_view>

namespace loom::bench {
int RunGemm(int argc, char** argv);
int RunColl(int argc, char** argv);
int RunSched(int argc, char** argv);
int RunCluster(int argc, char** argv);
int RunRpc(int argc, char** argv);
int RunCp(int argc, char** argv);
}  // namespace loom::bench

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

constexpr Command kCommands[] = {
#ifdef LOOM_BENCH_HAS_GEMM
    {"gemm", loom::bench::RunGemm, "GEMM throughput against cuBLAS (GPU) or OpenBLAS (CPU)"},
#endif
#ifdef LOOM_BENCH_HAS_COLL
    {"coll", loom::bench::RunColl, "collective bandwidth, nccl-tests compatible (run under mpirun)"},
#endif
#ifdef LOOM_BENCH_HAS_SCHED
    {"sched", loom::bench::RunSched, "scheduler pass time and throughput"},
#endif
#ifdef LOOM_BENCH_HAS_CLUSTER
    {"cluster", loom::bench::RunCluster, "control-plane latency and jobs/s against a running cluster"},
    {"rpc", loom::bench::RunRpc, "one small RPC in process: plaintext, TLS, TLS + token, TLS + authenticator"},
#endif
#ifdef LOOM_BENCH_HAS_CP
    {"cp", loom::bench::RunCp, "a real loomd under thousands of simulated nodes (heartbeats, submits)"},
#endif
};

void Usage(FILE* out) {
  std::fprintf(out, "usage: loom-bench <command> [options]\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-6s %s\n", c.name, c.help);
  std::fprintf(out, "\n'loom-bench <command> --help' shows a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage(stderr);
    return 2;
  }
  std::string_view cmd = argv[1];
  if (cmd == "-h" || cmd == "--help") {
    Usage(stdout);
    return 0;
  }
  for (const auto& c : kCommands) {
    if (cmd == c.name) return c.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "loom-bench: unknown command '%s' (try 'loom-bench --help')\n", argv[1]);
  return 2;
}
