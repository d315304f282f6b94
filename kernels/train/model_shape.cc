#include "kernels/train/model_shape.h"

#include <cstdio>
#include <map>

namespace loom::train {
namespace {

// GPT-3's vocabulary rounded up to a multiple of 128, as Megatron pads it.
constexpr int64_t kVocab = 50304;

const std::map<std::string, ModelShape>& Presets() {
  static const auto* presets = new std::map<std::string, ModelShape>{
      {"125M", {"125M", 12, 768, 12, 2048, kVocab, 1}},
      {"1.3B", {"1.3B", 24, 2048, 16, 2048, kVocab, 1}},
      {"7B", {"7B", 32, 4096, 32, 4096, kVocab, 1}},
      {"70B", {"70B", 80, 8192, 64, 4096, kVocab, 1}},
      // Llama 3 405B's trunk (126 layers, h 16384, 128 heads, 8K context, 128,256-token
      // vocabulary); in this 4h-MLP count it has 408B parameters (Llama 3: 405B with SwiGLU/GQA).
      {"405B", {"405B", 126, 16384, 128, 8192, 128256, 1}},
  };
  return *presets;
}

std::string GiB(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f GiB", bytes / (1LL << 30));
  return buf;
}

}  // namespace

StatusOr<ModelShape> Preset(const std::string& name) {
  auto it = Presets().find(name);
  if (it == Presets().end()) {
    std::string known;
    for (const auto& n : PresetNames()) known += (known.empty() ? "" : ", ") + n;
    return InvalidArgument("unknown model preset '" + name + "' (known: " + known + ")");
  }
  return it->second;
}

std::vector<std::string> PresetNames() {
  std::vector<std::string> names;
  for (const auto& [name, shape] : Presets()) names.push_back(name);
  return names;
}

Status Validate(const ModelShape& s) {
  if (s.layers < 1 || s.hidden < 1 || s.heads < 1 || s.seq_len < 1 || s.vocab < 1 || s.micro_batch < 1) {
    return InvalidArgument("model layers, hidden, heads, sequence length, vocabulary and micro-batch must be positive");
  }
  if (s.hidden % s.heads != 0) {
    return InvalidArgument("hidden " + std::to_string(s.hidden) + " does not divide into " +
                           std::to_string(s.heads) + " heads");
  }
  return Status::Ok();
}

int64_t ParameterCount(const ModelShape& s) { return s.layers * 12 * s.hidden * s.hidden + s.vocab * s.hidden; }

double ModelFlopsPerToken(const ModelShape& s) {
  return 6.0 * static_cast<double>(ParameterCount(s)) +
         12.0 * static_cast<double>(s.layers) * static_cast<double>(s.hidden) * static_cast<double>(s.seq_len);
}

double ModelFlopsPerStep(const ModelShape& s, int ranks) {
  return ModelFlopsPerToken(s) * static_cast<double>(s.tokens_per_rank()) * ranks;
}

double Mfu(double model_flops, double seconds, int gpus, double peak_flops_per_gpu) {
  if (seconds <= 0 || gpus <= 0 || peak_flops_per_gpu <= 0) return 0;
  return model_flops / (seconds * gpus * peak_flops_per_gpu);
}

int64_t TrainingBytesPerGpu(const ModelShape& s) {
  const int64_t states = 16 * ParameterCount(s);
  const double per_layer = static_cast<double>(s.seq_len) * s.micro_batch * s.hidden *
                           (34.0 + 5.0 * s.heads * s.seq_len / static_cast<double>(s.hidden));
  return states + static_cast<int64_t>(per_layer * s.layers);
}

Status CheckFits(const ModelShape& s, int64_t gpu_memory_bytes) {
  LOOM_RETURN_IF_ERROR(Validate(s));
  const int64_t need = TrainingBytesPerGpu(s);
  if (need <= gpu_memory_bytes) return Status::Ok();
  return ResourceExhausted("model " + (s.name.empty() ? std::string("shape") : s.name) + " needs " +
                           GiB(static_cast<double>(need)) + " per GPU (weights, gradients, Adam state and activations) but a GPU has " +
                           GiB(static_cast<double>(gpu_memory_bytes)) + "; use fewer layers or a smaller micro-batch");
}

}  // namespace loom::train
