#include "kernels/train/train_cli.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace loom::train::cli {

const char kUsage[] =
    "usage: loom-train [--preset 125M|1.3B|7B|70B] [--layers L|fit] [--hidden H] [--heads A]\n"
    "                  [--seq T] [--vocab V] [--micro-batch B] [--steps N] [--warmup N]\n"
    "                  [--bucket-mb MB] [--backend auto|mpi|shm] [--optimizer adam|sgd]\n"
    "                  [--device cpu|gpu] [--gemm loom|cublas] [--json]\n"
    "Without --preset the shape is a small one a CPU step runs in well under a second; the\n"
    "shape flags override the preset's fields. --bucket-mb 0: one all-reduce bucket per layer.\n"
    "--device cpu (default): one rank per MPI process, GEMMs on OpenBLAS; LOOM_GPU_MODEL names\n"
    "the GPU whose memory the model must fit (default H100-SXM-80GB).\n"
    "--device gpu: one process per GPU, started with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR\n"
    "and MASTER_PORT (or alone for one GPU); NCCL all-reduce; --gemm loom (default: the Hopper\n"
    "kernel on sm_90, the portable one elsewhere) or cublas; --layers fit takes as many layers\n"
    "of the shape as the device's memory holds.\n";

namespace {

StatusOr<int64_t> ParseInt(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < 0) {
    return InvalidArgument(flag + " needs a non-negative integer, got '" + v + "'");
  }
  return static_cast<int64_t>(x);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void PrintStep(const Flags& f, const char* kind, int step, const StepReport& r, double share) {
  if (f.json) {
    std::printf("{\"%s\":%d,\"step_ms\":%.3f,\"compute_ms\":%.3f,\"exposed_comm_ms\":%.3f,"
                "\"exposed_comm_share\":%.4f,\"tflops\":%.5f,\"busbw_gbps\":%.3f,\"mfu\":%.4f}\n",
                kind, step, r.step_ms, r.compute_ms, r.exposed_comm_ms, share, r.tflops,
                r.busbw_gbps, r.mfu);
  } else {
    std::printf("%-7s %4d  step %8.2f ms  compute %8.2f ms  exposed comm %7.2f ms (%4.1f%%)  "
                "%7.4f TFLOP/s  busbw %6.2f GB/s  MFU %5.1f%%\n",
                kind, step, r.step_ms, r.compute_ms, r.exposed_comm_ms, share * 100, r.tflops,
                r.busbw_gbps, r.mfu * 100);
  }
  std::fflush(stdout);
}

}  // namespace

StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags f;
  std::map<std::string, std::string> values;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--json") {
      f.json = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") return InvalidArgument("");
    if (arg.rfind("--", 0) != 0) return InvalidArgument("unexpected argument '" + arg + "'");
    const size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      values[arg.substr(0, eq)] = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      values[arg] = argv[++i];
    } else {
      return InvalidArgument(arg + " needs a value");
    }
  }
  if (auto it = values.find("--preset"); it != values.end()) {
    LOOM_ASSIGN_OR_RETURN(f.shape, Preset(it->second));
    values.erase(it);
  }
  if (auto it = values.find("--layers"); it != values.end() && it->second == "fit") {
    f.layers_fit = true;
    values.erase(it);
  }
  const std::map<std::string, int64_t*> ints = {
      {"--layers", &f.shape.layers}, {"--hidden", &f.shape.hidden},
      {"--heads", &f.shape.heads},   {"--seq", &f.shape.seq_len},
      {"--vocab", &f.shape.vocab},   {"--micro-batch", &f.shape.micro_batch}};
  bool gemm_given = false;
  for (const auto& [name, value] : values) {
    if (auto it = ints.find(name); it != ints.end()) {
      LOOM_ASSIGN_OR_RETURN(*it->second, ParseInt(name, value));
    } else if (name == "--steps" || name == "--warmup") {
      LOOM_ASSIGN_OR_RETURN(const int64_t n, ParseInt(name, value));
      (name == "--steps" ? f.steps : f.warmup) = static_cast<int>(n);
    } else if (name == "--bucket-mb") {
      char* end = nullptr;
      f.bucket_mb = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || f.bucket_mb < 0) {
        return InvalidArgument("--bucket-mb needs a number >= 0, got '" + value + "'");
      }
    } else if (name == "--backend") {
      f.backend = value;
    } else if (name == "--optimizer") {
      if (value != "adam" && value != "sgd") return InvalidArgument("--optimizer must be adam or sgd");
      f.optimizer = value == "sgd" ? Optimizer::kSgd : Optimizer::kAdam;
    } else if (name == "--device") {
      if (value != "cpu" && value != "gpu") {
        return InvalidArgument("--device must be cpu or gpu, got '" + value + "'");
      }
      f.gpu = value == "gpu";
    } else if (name == "--gemm") {
      if (value != "loom" && value != "cublas") {
        return InvalidArgument("--gemm must be loom or cublas, got '" + value + "'");
      }
      LOOM_ASSIGN_OR_RETURN(f.gemm, gemm::ParseBackend(value));
      gemm_given = true;
    } else {
      return InvalidArgument("unknown flag " + name);
    }
  }
  if (f.steps < 1) return InvalidArgument("--steps must be at least 1");
  if (!f.gpu && (gemm_given || f.layers_fit)) {
    return InvalidArgument(std::string(gemm_given ? "--gemm" : "--layers fit") +
                           " needs --device gpu");
  }
  return f;
}

int RankFromEnvironment() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "RANK"}) {
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') return std::atoi(v);
  }
  return 0;
}

StatusOr<comm::RendezvousEnv> GpuLaunchEnvironment() {
  const char* world = std::getenv("WORLD_SIZE");
  if (world == nullptr || *world == '\0' || std::string(world) == "1") {
    comm::RendezvousEnv single;
    const char* local = std::getenv("LOCAL_RANK");
    if (local != nullptr && *local != '\0') {
      LOOM_ASSIGN_OR_RETURN(const int64_t l, ParseInt("LOCAL_RANK", local));
      single.local_rank = static_cast<int>(l);
    }
    return single;
  }
  return comm::RendezvousEnvFromEnvironment();
}

Status RunSteps(const Flags& f, const ModelShape& s, int world, double peak_per_rank,
                bool print_rank, const std::function<StatusOr<StepStats>()>& step,
                StepSink* sink) {
  const double model_flops_per_step = ModelFlopsPerStep(s, world);
  std::vector<double> step_ms, compute_ms, exposed_ms, tflops, busbw, mfu, share;
  for (int i = 0; i < f.warmup + f.steps; ++i) {
    LOOM_ASSIGN_OR_RETURN(const StepStats stats, step());
    const StepReport r = MakeReport(s, world, stats, peak_per_rank);
    const double exposed_share = r.exposed_comm_ms / r.step_ms;
    const bool warm = i >= f.warmup;
    if (print_rank) PrintStep(f, warm ? "step" : "warmup", warm ? i - f.warmup : i, r, exposed_share);
    if (sink != nullptr) sink->Record(r, model_flops_per_step);  // warm-up steps are training too
    if (!warm) continue;
    step_ms.push_back(r.step_ms), compute_ms.push_back(r.compute_ms);
    exposed_ms.push_back(r.exposed_comm_ms), tflops.push_back(r.tflops);
    busbw.push_back(r.busbw_gbps), mfu.push_back(r.mfu), share.push_back(exposed_share);
  }
  if (print_rank) {
    const StepReport median{Median(step_ms), Median(compute_ms), Median(exposed_ms),
                            Median(tflops),  Median(busbw),      Median(mfu)};
    PrintStep(f, "median", f.steps, median, Median(share));
  }
  return Status::Ok();
}

}  // namespace loom::train::cli
