// The GPT-shaped model a training step runs, and what it costs: parameters, model FLOPs (PaLM's
// definition, used for MFU) and memory per GPU under data parallelism. Pure arithmetic; the
// definitions and a worked example are in docs/EFFICIENCY.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace loom::train {

struct ModelShape {
  std::string name;
  int64_t layers = 0;
  int64_t hidden = 0;     // h
  int64_t heads = 0;      // a; h must divide by a
  int64_t seq_len = 0;    // T
  int64_t vocab = 0;      // V; the embedding is tied to the output projection
  int64_t micro_batch = 1;  // sequences per rank per step

  int64_t tokens_per_rank() const { return micro_batch * seq_len; }
};

// 125M, 1.3B, 7B, 70B and 405B shapes (GPT-3 small, GPT-3 XL, 4h-MLP models at 4096 and 8192,
// and Llama 3 405B's layer count, width and vocabulary).
StatusOr<ModelShape> Preset(const std::string& name);
std::vector<std::string> PresetNames();
Status Validate(const ModelShape& shape);

// Weights of the matrix multiplies: 12·h² per layer (QKV 3h², output h², MLP 8h²) plus the tied
// embedding V·h. Biases and norms (O(h) per layer) are left out, as in PaLM's count.
int64_t ParameterCount(const ModelShape& shape);

// Training FLOPs per token, forward and backward: 6·N + 12·L·h·T (PaLM, appendix B: the
// attention term counts QKᵀ and AV at full T, without discounting the causal mask).
double ModelFlopsPerToken(const ModelShape& shape);
// Model FLOPs of one step over `ranks` data-parallel ranks.
double ModelFlopsPerStep(const ModelShape& shape, int ranks);

// Model FLOPs utilization: model FLOPs / (time × GPUs held × peak FLOP/s of each).
double Mfu(double model_flops, double seconds, int gpus, double peak_flops_per_gpu);

// Bytes one data-parallel rank holds: 16 per parameter for mixed-precision Adam (bf16 weights and
// gradients, fp32 master weights, two fp32 moments) plus activations without recomputation,
// s·b·h·(34 + 5·a·s/h) bytes per layer (Korthikanti et al., 2022).
int64_t TrainingBytesPerGpu(const ModelShape& shape);

// OK if the model fits in `gpu_memory_bytes`, else RESOURCE_EXHAUSTED saying by how much.
Status CheckFits(const ModelShape& shape, int64_t gpu_memory_bytes);

}  // namespace loom::train
