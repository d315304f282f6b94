// loom-bench coll's command line, in nccl-tests' vocabulary (-b -e -f -i -n -w -c -o -d -r) plus
// Loom's (-B backend, --baseline, --stream-copy, --fit, --json). Parsed by hand: the GPU machine
// has no CLI11.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/comm/communicator.h"
#include "kernels/comm/types.h"

namespace loom::bench::coll {

struct Options {
  std::vector<std::string> collectives = {"all_reduce"};  // positional; "all" = every one
  size_t min_bytes = 32 * 1024 * 1024;
  size_t max_bytes = 32 * 1024 * 1024;
  size_t step_bytes = 1024 * 1024;  // -i, when step_factor is 1
  double step_factor = 1;           // -f
  int iters = 20;                   // -n
  int warmup = 5;                   // -w
  bool check = true;                // -c
  std::vector<comm::DType> dtypes = {comm::DType::kFloat32};  // -d
  std::vector<comm::RedOp> redops = {comm::RedOp::kSum};      // -o
  int root = 0;                                               // -r / --root
  comm::Backend backend = comm::Backend::kAuto;               // -B / --backend
  long long shm_min_bytes = -1;                               // --shm-min-bytes
  int baseline = -1;      // --baseline 0|1; -1: on for mpi/shm/auto, off for nccl
  bool stream_copy = true;  // --stream-copy 0|1
  std::string fit_path;     // --fit FILE
  bool json = false;        // --json: one JSON document on stdout instead of the table
  // --best: report the fastest iteration instead of the mean (host backends). On a machine shared
  // with other work the mean measures the scheduler; the best iteration is what the algorithm does
  // when its ranks run. Off by default: nccl-tests reports the mean.
  bool best = false;
  bool help = false;
};

// argv[0] is the subcommand name ("coll"). kInvalidArgument carries a one-line reason.
StatusOr<Options> ParseOptions(int argc, char** argv);
// "8", "64K", "1M", "1G" (powers of 1024), as nccl-tests reads -b / -e / -i.
StatusOr<size_t> ParseSize(const std::string& text);
const char* Usage();

}  // namespace loom::bench::coll
