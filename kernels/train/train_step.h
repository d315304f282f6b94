// One data-parallel training step of the GPT-shaped model in model_shape.h: forward, backward,
// gradient all-reduce in buckets overlapped with the backward pass, and an optimizer update.
// Every matrix multiply goes through loom::gemm (bf16 operands, fp32 accumulation), so the FLOPs
// are real; the numerics are not a faithful GPT (no layer norms, fake targets) because the point
// is the cost and the overlap, not the loss. The same step on a CUDA device: gpu_trainer.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/comm/communicator.h"
#include "kernels/gemm/gemm.h"
#include "kernels/train/model_shape.h"

namespace loom::train {

// The GEMMs a step issues per layer and for the tied LM head, as descriptors. The step runs
// exactly these (Trainer counts what it issues), so summing them checks the FLOP formula:
// 6·N per token for the weights and 12·L·h·T for attention (docs/EFFICIENCY.md).
struct StepGemms {
  // Weight GEMMs: forward Y = X·W (NN), dgrad dX = dY·Wᵀ (NT), wgrad dW = Xᵀ·dY (TN).
  struct Weight {
    gemm::GemmDesc forward, dgrad, wgrad;
  };
  Weight qkv, proj, mlp_up, mlp_down;
  // Attention, batched over micro_batch × heads: scores S = Q·Kᵀ, context O = P·V; backward
  // dP = dO·Vᵀ, dV = Pᵀ·dO, dQ = dS·K, dK = dSᵀ·Q.
  gemm::GemmDesc scores, context, d_probs, d_values, d_queries, d_keys;
  // LM head tied to the embedding E (V × h): logits = X·Eᵀ, dX = dlogits·E, dE = dlogitsᵀ·X.
  gemm::GemmDesc logits, d_head_input, d_embedding;
};
StepGemms PlanStepGemms(const ModelShape& shape);

// FLOPs (2·M·N·K per GEMM) one rank issues per step according to the plan.
double PlannedFlopsPerRank(const ModelShape& shape);

enum class Optimizer { kSgd, kAdam };

struct TrainOptions {
  gemm::Backend gemm_backend = gemm::Backend::kCpu;
  Optimizer optimizer = Optimizer::kAdam;
  float learning_rate = 1e-4f;
  // A bucket of layers is all-reduced once it reaches this size; 0: one bucket per layer. The
  // tied embedding is its own bucket, started as soon as the LM head's backward is done.
  int64_t bucket_bytes = 1 << 20;
  uint64_t seed = 1;  // same on every rank: replicas start identical, as data parallelism needs
};

// What one step cost, on this rank.
struct StepStats {
  double step_s = 0;           // wall time of Step()
  double compute_s = 0;        // time in GEMMs, softmax, GELU, layouts and the optimizer
  double exposed_comm_s = 0;   // time this thread spent starting or blocked on all-reduces
  double comm_span_s = 0;      // first bucket started → last bucket seen complete
  double issued_flops = 0;     // 2·M·N·K summed over the GEMMs issued
  int64_t allreduce_bytes = 0; // gradient bytes all-reduced
  int buckets = 0;
};

class Trainer {
 public:
  // `comm` must outlive the trainer; it may be null for a single rank (no all-reduce).
  static StatusOr<std::unique_ptr<Trainer>> Create(const ModelShape& shape,
                                                   const TrainOptions& options,
                                                   comm::Communicator* comm);
  ~Trainer();

  StatusOr<StepStats> Step();

  // The flat fp32 gradients of the last step after the all-reduce (averaged over ranks).
  const std::vector<float>& gradients() const;
  const ModelShape& shape() const;

 private:
  struct State;
  explicit Trainer(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

// A step's figures as loom-train prints them. TFLOP/s and MFU count model FLOPs
// (ModelFlopsPerStep over all ranks), not the FLOPs issued; MFU is against `world` ranks of
// `peak_flops_per_rank`. busbw is over the all-reduce's span, so with overlap it is a lower bound.
struct StepReport {
  double step_ms = 0, compute_ms = 0, exposed_comm_ms = 0;
  double tflops = 0, busbw_gbps = 0, mfu = 0;
};
StepReport MakeReport(const ModelShape& shape, int world, const StepStats& stats,
                      double peak_flops_per_rank);

// All-reduce bus bandwidth (nccl-tests' definition): bytes·2(n−1)/n over the time, in bytes/s.
double AllReduceBusBandwidth(int64_t bytes, int ranks, double seconds);

}  // namespace loom::train
