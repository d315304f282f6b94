#include "sim/perf_model.h"

#include <algorithm>
#include <cmath>

namespace loom::sim {
namespace {

// The level a group of `span_gpus` consecutive GPUs reaches.
LinkLevel LevelOf(long long span_gpus, int gpus_per_node, int nodes_per_leaf) {
  if (span_gpus <= gpus_per_node) return LinkLevel::kNvlink;
  const long long nodes = (span_gpus + gpus_per_node - 1) / gpus_per_node;
  return nodes <= nodes_per_leaf ? LinkLevel::kLeaf : LinkLevel::kSpine;
}

// Ring collectives' bus factors (nccl-tests): all-reduce moves 2(n−1)/n of the buffer per rank,
// reduce-scatter and all-gather (n−1)/n of the whole buffer.
double AllReduceFactor(int n) { return n <= 1 ? 0 : 2.0 * (n - 1) / n; }
double GatherFactor(int n) { return n <= 1 ? 0 : static_cast<double>(n - 1) / n; }

}  // namespace

const char* LinkLevelName(LinkLevel level) {
  switch (level) {
    case LinkLevel::kNvlink: return "nvlink";
    case LinkLevel::kLeaf: return "leaf";
    case LinkLevel::kSpine: return "spine";
  }
  return "?";
}

Placement PackedPlacement(const Layout& l, int gpus_per_node, int nodes_per_leaf) {
  Placement p;
  p.tp = LevelOf(l.tp, gpus_per_node, nodes_per_leaf);
  p.pp = l.pp <= 1 ? p.tp : LevelOf(static_cast<long long>(l.tp) * l.pp, gpus_per_node, nodes_per_leaf);
  p.dp = l.dp <= 1 ? p.pp : LevelOf(l.gpus(), gpus_per_node, nodes_per_leaf);
  return p;
}

StatusOr<StepEstimate> EstimateStep(const StepInputs& in) {
  const Layout& l = in.layout;
  const train::ModelShape& s = in.model;
  LOOM_RETURN_IF_ERROR(train::Validate(s));
  if (l.tp < 1 || l.pp < 1 || l.dp < 1 || l.virtual_stages < 1) {
    return InvalidArgument("TP, PP, DP and virtual stages must be positive");
  }
  // Each virtual stage holds at least one layer; like Llama 3's, the stages at the pipeline's ends
  // may hold one layer fewer, so v may reach ceil(layers / PP).
  if (static_cast<int64_t>(l.pp) * (l.virtual_stages - 1) >= s.layers) {
    return InvalidArgument("the model's " + std::to_string(s.layers) + " layers do not fill " +
                           std::to_string(l.pp) + " pipeline stages of " + std::to_string(l.virtual_stages) +
                           " virtual stages");
  }
  if (in.gpu.peak_tflops <= 0 || in.gpu.gemm_efficiency <= 0 || in.gpu.attention_efficiency <= 0) {
    return InvalidArgument("GPU " + in.gpu.model + " needs a positive peak and efficiencies");
  }
  const double m = in.batch_sequences / (static_cast<double>(l.dp) * s.micro_batch);
  if (!(m >= 1)) {
    return InvalidArgument("the batch of " + std::to_string(in.batch_sequences) +
                           " sequences gives fewer than one micro-batch per DP rank");
  }
  const double T = static_cast<double>(s.seq_len) * s.micro_batch;  // tokens per micro-batch
  const double h = static_cast<double>(s.hidden);
  const double layers_per_stage = static_cast<double>(s.layers) / l.pp;
  const double peak = in.gpu.peak_tflops * 1e12;

  // One micro-batch through one pipeline stage, per GPU of its TP group.
  const double n_params = static_cast<double>(train::ParameterCount(s));
  const double gemm_flops = 6.0 * n_params * T / (l.tp * l.pp);  // embedding spread over stages
  const double attn_flops = 12.0 * layers_per_stage * h * s.seq_len * T / l.tp;
  const double compute_mb = gemm_flops / (peak * in.gpu.gemm_efficiency) +
                            attn_flops / (peak * in.gpu.attention_efficiency);
  const double act_bytes = 2.0 * T * h;  // bf16 activations of one micro-batch
  const double tp_mb = l.tp <= 1 ? 0
                                 : 4.0 * layers_per_stage *
                                       in.links.at(in.placement.tp).Seconds(act_bytes * AllReduceFactor(l.tp));
  const double pp_mb =
      l.pp <= 1 ? 0 : 2.0 * l.virtual_stages * in.links.at(in.placement.pp).Seconds(act_bytes / l.tp);
  const double per_mb = compute_mb + tp_mb + pp_mb;

  StepEstimate e;
  e.micro_batches = m;
  const double bubble_fraction =
      (l.pp - 1.0) / (l.virtual_stages * m + l.pp - 1.0);
  const double pipeline_s = m * per_mb / (1.0 - bubble_fraction);
  e.compute_s = m * compute_mb;
  e.tp_comm_s = m * tp_mb;
  e.pp_p2p_s = m * pp_mb;
  e.bubble_s = pipeline_s - m * per_mb;

  if (l.dp > 1) {
    const double params_per_gpu = n_params / (static_cast<double>(l.tp) * l.pp);
    const AlphaBeta& link = in.links.at(in.placement.dp);
    const double rs = link.Seconds(in.grad_bytes_per_param * params_per_gpu * GatherFactor(l.dp));
    const double ag = link.Seconds(2.0 * params_per_gpu * GatherFactor(l.dp));
    const double chunk = compute_mb / l.virtual_stages;  // one virtual stage of one micro-batch
    e.dp_exposed_s = std::max(0.0, rs - chunk * 2.0 / 3.0) + std::max(0.0, ag - chunk / 3.0);
  }
  e.step_s = pipeline_s + e.dp_exposed_s;
  e.model_flops = train::ModelFlopsPerToken(s) * in.batch_sequences * s.seq_len;
  e.tflops_per_gpu = e.model_flops / e.step_s / l.gpus() / 1e12;
  e.mfu = e.tflops_per_gpu / in.gpu.peak_tflops;
  return e;
}

}  // namespace loom::sim
