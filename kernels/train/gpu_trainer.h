// The training step of train_step.h on one CUDA device: parameters, activations, gradients and
// Adam's state in device memory (one allocation, carved by device_memory.h's plan), every GEMM
// through loom::gemm on the device (kLoom or kCublas), the other kernels in train_kernels.cu, and
// the gradient all-reduce through a kNccl Communicator on a stream of its own, bucketed
// (bucket_plan.h) and ordered against the compute stream by events as step_schedule.h lays out,
// so the reduction of the upper layers runs while the lower layers' backward computes. Same
// model, init and data as the CPU Trainer, so one GPU step can be checked against one CPU step.
//
// Timing: CUDA events on both streams; a step's compute and exposed communication come from the
// timeline (step_timeline.h). Step() synchronizes at its end, so the host clock never times a
// queue. Threads: one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/comm/communicator.h"
#include "kernels/train/train_step.h"

namespace loom::train {

// The two streams a GPU step runs on, created on the current device. The communicator must be
// created with CommOptions::cuda_stream = comm_stream() so its collectives run there.
class DeviceStreams {
 public:
  static StatusOr<std::unique_ptr<DeviceStreams>> Create();
  ~DeviceStreams();
  void* compute_stream() const { return compute_; }
  void* comm_stream() const { return comm_; }

 private:
  DeviceStreams() = default;
  void* compute_ = nullptr;
  void* comm_ = nullptr;
};

class GpuTrainer {
 public:
  // `options.gemm_backend` must be kLoom or kCublas. `comm` (a kNccl communicator on
  // streams->comm_stream(), outliving the trainer) may be null for one rank. RESOURCE_EXHAUSTED
  // when the model does not fit the device's free memory (CheckFitsOnDevice); UNAVAILABLE
  // without a device.
  static StatusOr<std::unique_ptr<GpuTrainer>> Create(const ModelShape& shape,
                                                      const TrainOptions& options,
                                                      comm::Communicator* comm,
                                                      DeviceStreams* streams);
  ~GpuTrainer();

  StatusOr<StepStats> Step();
  // The flat fp32 gradients of the last step after the all-reduce, copied to the host.
  StatusOr<std::vector<float>> Gradients() const;
  // The fp32 master weights, copied to the host.
  StatusOr<std::vector<float>> MasterWeights() const;
  const ModelShape& shape() const;

 private:
  struct State;
  explicit GpuTrainer(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

// The current device: its CUDA name, compute capability and memory now (cudaMemGetInfo).
// UNAVAILABLE, saying "no CUDA device", without one.
struct DeviceInfo {
  std::string name;
  int64_t free_bytes = 0, total_bytes = 0;
  int major = 0, minor = 0;
};
StatusOr<DeviceInfo> CurrentDeviceInfo();

}  // namespace loom::train
