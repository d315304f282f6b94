// The performance model: how long one training step of a GPT-shaped model takes under a
// TP × PP × DP layout on a given GPU model and network, from a few physical parameters (a GPU's
// dense bf16 peak and achieved GEMM efficiency; α-β collectives per link level). Pure arithmetic,
// no I/O: the inputs come from perf_inputs.h (defaults with sources, or loom-bench files).
//
// Assumptions (docs/SIM.md gives the sources):
//  - Compute: model FLOPs per PaLM (kernels/train/model_shape.h); GEMM FLOPs at peak × GEMM
//    efficiency, attention's 12·L·h·T term at peak × attention efficiency (flash attention).
//  - TP (Megatron with sequence parallelism): per layer and micro-batch 2 all-reduce-equivalents
//    forward and 2 backward of T·b·h bf16 activations on the TP group's link level, not overlapped.
//  - PP: interleaved 1F1B with v virtual stages per rank: bubble (p−1)/(v·m + p−1) of the
//    pipeline's time (v = 1 is plain 1F1B's (p−1)/(m+p−1)); each micro-batch sends its stage
//    boundary activations (T·b·h/TP bf16 per GPU) 2·v times, forward and backward.
//  - DP (ZeRO/FSDP-style sharding): per step, a reduce-scatter of the gradients (grad_bytes per
//    parameter) and an all-gather of the bf16 weights over the DP group; each overlaps only with
//    the one virtual stage's backward (reduce-scatter) or forward (all-gather) it follows or
//    precedes, since gradients accumulate over all m micro-batches first.
//  - A group's link level is the widest part of the network it spans: one node (NVLink), one leaf
//    switch, or several leaves under the spines; a wider level has a larger α and, where the
//    spine is oversubscribed, less bandwidth.
#pragma once

#include <string>

#include "common/status.h"
#include "kernels/train/model_shape.h"

namespace loom::sim {

struct GpuPerf {
  std::string model;
  double peak_tflops = 0;            // dense bf16
  double gemm_efficiency = 0;        // achieved / peak on large training GEMMs
  double attention_efficiency = 0;   // achieved / peak of the attention kernels
};

// time = alpha + bytes × bus_factor / bus bandwidth (nccl-tests' busbw convention).
struct AlphaBeta {
  double alpha_s = 0;
  double busbw_gbytes_per_s = 0;
  double Seconds(double bus_bytes) const { return alpha_s + bus_bytes / (busbw_gbytes_per_s * 1e9); }
};

enum class LinkLevel { kNvlink, kLeaf, kSpine };
const char* LinkLevelName(LinkLevel level);

struct Links {
  AlphaBeta nvlink;  // all-reduce inside one node (8 H100 with NVLS)
  AlphaBeta leaf;    // ranks on different nodes under one leaf switch (one NIC per GPU)
  AlphaBeta spine;   // ranks under different leaf switches
  const AlphaBeta& at(LinkLevel level) const {
    return level == LinkLevel::kNvlink ? nvlink : level == LinkLevel::kLeaf ? leaf : spine;
  }
};

struct Layout {
  int tp = 1, pp = 1, dp = 1;
  int virtual_stages = 1;  // interleaved 1F1B chunks per pipeline rank
  int gpus() const { return tp * pp * dp; }
};

// Where the groups sit in the network: what the placement spans.
struct Placement {
  LinkLevel tp = LinkLevel::kNvlink;
  LinkLevel pp = LinkLevel::kLeaf;
  LinkLevel dp = LinkLevel::kSpine;
};

// The widest level each group of `layout` spans when the job's nodes are packed in order into
// leaves of `nodes_per_leaf` nodes of `gpus_per_node` GPUs (TP innermost, then PP, then DP).
Placement PackedPlacement(const Layout& layout, int gpus_per_node, int nodes_per_leaf);

struct StepInputs {
  train::ModelShape model;     // seq_len and micro_batch are per micro-batch
  double batch_sequences = 0;  // global batch, in sequences
  Layout layout;
  Placement placement;
  GpuPerf gpu;
  Links links;
  double grad_bytes_per_param = 4;  // fp32 gradient reduce-scatter
};

struct StepEstimate {
  double micro_batches = 0;  // per pipeline, per step (m)
  double compute_s = 0;      // GEMM + attention over the step, per GPU
  double tp_comm_s = 0;      // exposed TP collectives
  double pp_p2p_s = 0;       // stage-boundary sends
  double bubble_s = 0;       // pipeline fill and drain
  double dp_exposed_s = 0;   // DP collectives not hidden behind compute
  double step_s = 0;
  double model_flops = 0;    // of the whole step, all GPUs
  double tflops_per_gpu = 0;
  double mfu = 0;
};

// INVALID_ARGUMENT for a layout that does not divide the model or the batch.
StatusOr<StepEstimate> EstimateStep(const StepInputs& in);

}  // namespace loom::sim
