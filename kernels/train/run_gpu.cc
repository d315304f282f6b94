// loom-train --device gpu: one process per CUDA device, no MPI. A job of several processes is
// started with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT (what Loom gives a
// non-MPI job, as torch's launcher does); NCCL's unique id travels over the TCP rendezvous
// (kernels/comm/rendezvous.h). Without WORLD_SIZE, or with WORLD_SIZE=1, it is one process on one
// GPU and there is no all-reduce. MFU is against the device's catalog peak (989 TFLOP/s for
// H100/H200 SXM), or LOOM_GPU_MODEL's.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/gpu_models.h"
#include "kernels/comm/communicator.h"
#include "kernels/comm/rendezvous.h"
#include "kernels/train/device_memory.h"
#include "kernels/train/gpu_trainer.h"
#include "kernels/train/train_runs.h"

namespace loom::train::cli {
namespace {

// The catalog entry of the device, or of LOOM_GPU_MODEL when set (a GPU the catalog cannot map).
StatusOr<const GpuModel*> PeakModel(const std::string& device_name) {
  const char* env = std::getenv("LOOM_GPU_MODEL");
  if (env != nullptr && *env != '\0') {
    if (const GpuModel* m = FindGpuModel(env)) return m;
    return InvalidArgument("unknown LOOM_GPU_MODEL '" + std::string(env) +
                           "' (known: " + KnownGpuModelNames() + ")");
  }
  if (const GpuModel* m = GpuModelForDevice(device_name)) return m;
  return InvalidArgument("no catalog peak for the device '" + device_name +
                         "': set LOOM_GPU_MODEL (known: " + KnownGpuModelNames() + ")");
}

}  // namespace

int RunGpu(const Flags& flags) {
  Flags f = flags;
  auto env = GpuLaunchEnvironment();
  if (!env.ok()) return Fail(RankFromEnvironment(), env.status().message());
  const int rank = env->rank, world = env->world_size;
  auto fail = [rank](const std::string& msg) { return Fail(rank, msg); };

  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    return fail(CurrentDeviceInfo().status().message());
  }
  const int device = env->local_rank % devices;
  if (cudaSetDevice(device) != cudaSuccess) return fail("cannot use CUDA device " + std::to_string(device));
  auto info = CurrentDeviceInfo();
  if (!info.ok()) return fail(info.status().message());
  auto peak_model = PeakModel(info->name);
  if (!peak_model.ok()) return fail(peak_model.status().message());
  const double peak_per_rank = (*peak_model)->bf16_dense_tflops * 1e12;

  auto streams = DeviceStreams::Create();
  if (!streams.ok()) return fail(streams.status().ToString());
  std::unique_ptr<comm::Communicator> comm;
  if (world > 1) {
    comm::CommOptions options{.backend = comm::Backend::kNccl,
                              .cuda_device = device,
                              .cuda_stream = (*streams)->comm_stream()};
    auto made = comm::CreateCommunicator(options);
    if (!made.ok()) return fail(made.status().ToString());
    comm = std::move(*made);
  }
  // What the streams and NCCL took is gone from the free memory the model may use.
  info = CurrentDeviceInfo();
  if (!info.ok()) return fail(info.status().message());
  const bool adam = f.optimizer == Optimizer::kAdam;
  if (f.layers_fit) {
    f.shape.layers = LayersThatFit(f.shape, world, adam, info->free_bytes);
    if (f.shape.layers == 0) return fail("not one layer of " + f.shape.name + " fits " + info->name);
    f.shape.name += "-shaped";
  }
  TrainOptions options;
  options.gemm_backend = f.gemm;
  options.optimizer = f.optimizer;
  options.bucket_bytes = static_cast<int64_t>(f.bucket_mb * (1 << 20));
  auto trainer = GpuTrainer::Create(f.shape, options, comm.get(), streams->get());
  if (!trainer.ok()) return fail(trainer.status().message());

  const ModelShape& s = f.shape;
  const std::string comm_text = comm ? comm->Describe() : "one GPU, no all-reduce";
  if (rank == 0 && f.json) {
    std::printf("{\"model\":\"%s\",\"layers\":%lld,\"hidden\":%lld,\"heads\":%lld,\"seq\":%lld,"
                "\"vocab\":%lld,\"micro_batch\":%lld,\"params\":%lld,\"ranks\":%d,"
                "\"device\":\"%s\",\"gemm\":\"%s\",\"peak_tflops\":%.1f,"
                "\"device_bytes\":%lld,\"model_flops_per_step\":%.6g}\n",
                s.name.c_str(), (long long)s.layers, (long long)s.hidden, (long long)s.heads,
                (long long)s.seq_len, (long long)s.vocab, (long long)s.micro_batch,
                (long long)ParameterCount(s), world, info->name.c_str(), gemm::BackendName(f.gemm),
                peak_per_rank / 1e12, (long long)PlanDeviceMemory(s, world, adam).total_bytes,
                ModelFlopsPerStep(s, world));
  } else if (rank == 0) {
    std::printf("loom-train: %s L=%lld h=%lld a=%lld T=%lld V=%lld b=%lld, N=%.4g params, "
                "%d ranks, %s (sm_%d%d), gemm %s, %s\n",
                s.name.c_str(), (long long)s.layers, (long long)s.hidden, (long long)s.heads,
                (long long)s.seq_len, (long long)s.vocab, (long long)s.micro_batch,
                (double)ParameterCount(s), world, info->name.c_str(), info->major, info->minor,
                gemm::BackendName(f.gemm), comm_text.c_str());
    std::printf("model FLOPs/step %.4g; device memory %.2f GiB planned of %.2f GiB free; "
                "peak %.0f TFLOP/s per GPU (%s)\n",
                ModelFlopsPerStep(s, world),
                PlanDeviceMemory(s, world, adam).total_bytes / double(1 << 30),
                info->free_bytes / double(1 << 30), peak_per_rank / 1e12,
                std::string((*peak_model)->name).c_str());
  }
  std::fflush(stdout);
  return RunAndReport(f, s, rank, world, peak_per_rank, [&] { return (*trainer)->Step(); });
}

}  // namespace loom::train::cli
