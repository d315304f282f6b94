// loom-train: data-parallel training steps of a GPT-shaped model on CPU-emulated GPUs, one rank
// per MPI process (mpirun -np N loom-train ..., or a Loom --mpi job). Rank 0 prints one line per
// step and a summary of medians; MFU is against a per-rank peak calibrated at start. Run by Loom,
// rank 0 also reports every step to loomd, which turns them into the job's and the cluster's
// efficiency figures (loom show, loom stats).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "common/gpu_models.h"
#include "kernels/comm/communicator.h"
#include "kernels/gemm/calibrate.h"
#include "kernels/train/model_shape.h"
#include "kernels/train/train_step.h"
#ifdef LOOM_HAVE_STEP_REPORTER
#include "worker/step_reporter.h"
#endif

namespace {

using loom::Status;
using loom::StatusOr;
using loom::train::ModelShape;
using loom::train::StepReport;

constexpr const char* kUsage =
    "usage: loom-train [--preset 125M|1.3B|7B|70B] [--layers L] [--hidden H] [--heads A]\n"
    "                  [--seq T] [--vocab V] [--micro-batch B] [--steps N] [--warmup N]\n"
    "                  [--bucket-mb MB] [--backend auto|mpi|shm] [--optimizer adam|sgd] [--json]\n"
    "Without --preset the shape is a small one a CPU step runs in well under a second; the\n"
    "shape flags override the preset's fields. --bucket-mb 0: one all-reduce bucket per layer.\n"
    "LOOM_GPU_MODEL names the GPU whose memory the model must fit (default H100-SXM-80GB).\n";

struct Flags {
  ModelShape shape{"small", 4, 256, 4, 256, 8192, 2};
  int steps = 5;
  int warmup = 1;
  double bucket_mb = 1.0;
  std::string backend = "auto";
  std::string optimizer = "adam";
  bool json = false;
};

StatusOr<int64_t> ParseInt(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < 0) {
    return loom::InvalidArgument(flag + " needs a non-negative integer, got '" + v + "'");
  }
  return static_cast<int64_t>(x);
}

StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags f;
  std::map<std::string, std::string> values;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--json") {
      f.json = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") return loom::InvalidArgument("");
    if (arg.rfind("--", 0) != 0) return loom::InvalidArgument("unexpected argument '" + arg + "'");
    const size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      values[arg.substr(0, eq)] = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      values[arg] = argv[++i];
    } else {
      return loom::InvalidArgument(arg + " needs a value");
    }
  }
  if (auto it = values.find("--preset"); it != values.end()) {
    LOOM_ASSIGN_OR_RETURN(f.shape, loom::train::Preset(it->second));
    values.erase(it);
  }
  const std::map<std::string, int64_t*> ints = {
      {"--layers", &f.shape.layers}, {"--hidden", &f.shape.hidden},
      {"--heads", &f.shape.heads},   {"--seq", &f.shape.seq_len},
      {"--vocab", &f.shape.vocab},   {"--micro-batch", &f.shape.micro_batch}};
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
        return loom::InvalidArgument("--bucket-mb needs a number >= 0, got '" + value + "'");
      }
    } else if (name == "--backend") {
      f.backend = value;
    } else if (name == "--optimizer") {
      f.optimizer = value;
    } else {
      return loom::InvalidArgument("unknown flag " + name);
    }
  }
  if (f.steps < 1) return loom::InvalidArgument("--steps must be at least 1");
  return f;
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

// Everything after MPI_Init; returns the process exit code. Errors are one line on rank 0.
int Run(int argc, char** argv, int rank, int world) {
  auto fail = [rank](const std::string& msg) {
    if (rank == 0) std::fprintf(stderr, "loom-train: %s\n", msg.c_str());
    return 1;
  };
  auto flags = ParseFlags(argc, argv);
  if (!flags.ok()) {
    if (rank == 0) std::fputs(kUsage, stderr);
    return flags.status().message().empty() ? 1 : fail(flags.status().message());
  }
  const Flags& f = *flags;
  const char* gpu_env = std::getenv("LOOM_GPU_MODEL");
  const std::string gpu_name = gpu_env && *gpu_env ? gpu_env : "H100-SXM-80GB";
  const loom::GpuModel* gpu = loom::FindGpuModel(gpu_name);
  if (gpu == nullptr) {
    return fail("unknown LOOM_GPU_MODEL '" + gpu_name + "' (known: " + loom::KnownGpuModelNames() + ")");
  }
  if (Status fits = loom::train::CheckFits(f.shape, gpu->memory_bytes); !fits.ok()) {
    return fail(fits.message() + " (" + gpu_name + ")");
  }
  loom::comm::CommOptions comm_options;
  if (!loom::comm::ParseBackend(f.backend, &comm_options.backend) ||
      comm_options.backend == loom::comm::Backend::kNccl) {
    return fail("--backend must be auto, mpi or shm, got '" + f.backend + "'");
  }
  auto comm = loom::comm::CreateCommunicator(comm_options);
  if (!comm.ok()) return fail(comm.status().ToString());

  loom::train::TrainOptions options;
  options.optimizer =
      f.optimizer == "sgd" ? loom::train::Optimizer::kSgd : loom::train::Optimizer::kAdam;
  if (f.optimizer != "sgd" && f.optimizer != "adam") return fail("--optimizer must be adam or sgd");
  options.bucket_bytes = static_cast<int64_t>(f.bucket_mb * (1 << 20));
  auto trainer = loom::train::Trainer::Create(f.shape, options, comm->get());
  if (!trainer.ok()) return fail(trainer.status().ToString());

  // The GEMMs run on the CPU backend, so the peak is always calibrated, on every rank at once
  // (they share the machine as they will during the steps); MFU uses the ranks' mean.
  auto peak = loom::gemm::CalibratePeakFlops(loom::gemm::Backend::kCpu);
  if (!peak.ok()) return fail(peak.status().ToString());
  double peak_sum = 0;
  MPI_Allreduce(&*peak, &peak_sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  const double peak_per_rank = peak_sum / world;

  // The gradients' all-reduce alone, blocking and without compute beside it: the communication
  // time the overlap has to hide (best of three after a first, warming call).
  std::vector<float> probe((*trainer)->gradients().size(), 1.0f);
  double comm_alone_s = 1e30;
  for (int i = 0; i < 4; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    Status st = (*comm)->AllReduce(probe.data(), probe.data(), probe.size(),
                                   loom::comm::DType::kFloat32, loom::comm::RedOp::kAvg);
    if (!st.ok()) return fail(st.ToString());
    if (i > 0) comm_alone_s = std::min(comm_alone_s, MPI_Wtime() - t0);
  }

  const ModelShape& s = f.shape;
  if (rank == 0 && !f.json) {
    std::printf("loom-train: %s L=%lld h=%lld a=%lld T=%lld V=%lld b=%lld, N=%.4g params, "
                "%d ranks, %s\n",
                s.name.c_str(), (long long)s.layers, (long long)s.hidden, (long long)s.heads,
                (long long)s.seq_len, (long long)s.vocab, (long long)s.micro_batch,
                (double)loom::train::ParameterCount(s), world, (*comm)->Describe().c_str());
    std::printf("model FLOPs/step %.4g (6N %.4g + attention %.4g); issued by the step %.4g; "
                "calibrated peak %.1f GFLOP/s per rank\n",
                loom::train::ModelFlopsPerStep(s, world),
                6.0 * loom::train::ParameterCount(s) * s.tokens_per_rank() * world,
                12.0 * s.layers * s.hidden * s.seq_len * s.tokens_per_rank() * world,
                loom::train::PlannedFlopsPerRank(s) * world, peak_per_rank / 1e9);
    const int64_t bytes = static_cast<int64_t>(probe.size() * sizeof(float));
    std::printf("gradient all-reduce alone: %.1f MB in %.2f ms, busbw %.2f GB/s\n", bytes / 1e6,
                comm_alone_s * 1e3,
                loom::train::AllReduceBusBandwidth(bytes, world, comm_alone_s) / 1e9);
  }
#ifdef LOOM_HAVE_STEP_REPORTER
  std::unique_ptr<loom::worker::StepReporter> reporter;
  if (rank == 0) {
    auto from_env = loom::worker::StepReporter::FromEnvironment();
    if (!from_env.ok()) return fail(from_env.status().message());
    reporter = std::move(*from_env);
  }
#endif
  const double model_flops_per_step = loom::train::ModelFlopsPerStep(s, world);
  std::vector<double> step_ms, compute_ms, exposed_ms, tflops, busbw, mfu, share;
  for (int i = 0; i < f.warmup + f.steps; ++i) {
    auto stats = (*trainer)->Step();
    if (!stats.ok()) return fail(stats.status().ToString());
    const StepReport r = loom::train::MakeReport(s, world, *stats, peak_per_rank);
    const double exposed_share = r.exposed_comm_ms / r.step_ms;
    const bool warm = i >= f.warmup;
    if (rank == 0) PrintStep(f, warm ? "step" : "warmup", warm ? i - f.warmup : i, r, exposed_share);
#ifdef LOOM_HAVE_STEP_REPORTER
    if (reporter) {  // warm-up steps are training too: loomd counts every step
      loom::v1::StepSample sample;
      sample.set_step_s(r.step_ms / 1e3);
      sample.set_compute_s(r.compute_ms / 1e3);
      sample.set_exposed_comm_s(r.exposed_comm_ms / 1e3);
      sample.set_model_flops(model_flops_per_step);
      sample.set_busbw_gbps(r.busbw_gbps);
      reporter->Record(sample);
    }
#endif
    if (!warm) continue;
    step_ms.push_back(r.step_ms), compute_ms.push_back(r.compute_ms);
    exposed_ms.push_back(r.exposed_comm_ms), tflops.push_back(r.tflops);
    busbw.push_back(r.busbw_gbps), mfu.push_back(r.mfu), share.push_back(exposed_share);
  }
  if (rank == 0) {
    const StepReport median{Median(step_ms), Median(compute_ms), Median(exposed_ms),
                            Median(tflops),  Median(busbw),      Median(mfu)};
    PrintStep(f, "median", f.steps, median, Median(share));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const int rc = Run(argc, argv, rank, world);
  MPI_Finalize();
  return rc;
}
