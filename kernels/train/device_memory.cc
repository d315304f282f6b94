#include "kernels/train/device_memory.h"

#include <cstdio>
#include <string>

namespace loom::train {
namespace {

// Hands out aligned byte offsets in order and counts them by kind.
class Carver {
 public:
  int64_t Take(int64_t bytes, int64_t* counter) {
    const int64_t at = next_;
    const int64_t rounded =
        (bytes + DeviceMemoryPlan::kAlign - 1) / DeviceMemoryPlan::kAlign * DeviceMemoryPlan::kAlign;
    next_ += rounded;
    *counter += rounded;
    return at;
  }
  int64_t end() const { return next_; }

 private:
  int64_t next_ = 0;
};

std::string GiB(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return buf;
}

}  // namespace

DeviceMemoryPlan PlanDeviceMemory(const ModelShape& s, int world, bool adam) {
  const int64_t t = s.tokens_per_rank(), h = s.hidden, T = s.seq_len;
  const int64_t nbTT = s.micro_batch * s.heads * T * T;
  constexpr int64_t kB = 2, kF = 4;  // bf16, fp32 (int32 is 4 too)
  DeviceMemoryPlan p;
  p.params = 12 * s.layers * h * h + s.vocab * h;
  Carver c;
  int64_t* st = &p.state_bytes;
  p.weights = c.Take(p.params * kB, st);
  p.master = c.Take(p.params * kF, st);
  p.grads = c.Take(p.params * kF, st);
  if (adam) {
    p.adam_m = c.Take(p.params * kF, st);
    p.adam_v = c.Take(p.params * kF, st);
  }
  int64_t* act = &p.activation_bytes;
  p.layers.resize(s.layers);
  for (LayerRegions& l : p.layers) {
    l.input = c.Take(t * h * kB, act);
    l.q = c.Take(t * h * kB, act);
    l.k = c.Take(t * h * kB, act);
    l.v = c.Take(t * h * kB, act);
    l.probs = c.Take(nbTT * kB, act);
    l.context = c.Take(t * h * kB, act);
    l.h1 = c.Take(t * h * kB, act);
    l.up = c.Take(t * 4 * h * kF, act);
    l.gelu = c.Take(t * 4 * h * kB, act);
  }
  int64_t* sc = &p.scratch_bytes;
  p.tokens = c.Take(t * kF, sc);
  p.targets = c.Take(t * kF, sc);
  p.all_tokens = c.Take(t * world * kF, sc);
  p.all_grads = c.Take(t * h * world * kF, sc);
  p.final_input = c.Take(t * h * kB, sc);
  p.qkv_tok = c.Take(t * 3 * h * kB, sc);
  p.d_tok = c.Take(t * h * kB, sc);
  p.d_heads = c.Take(t * h * kB, sc);
  p.ctx_heads = c.Take(t * h * kB, sc);
  p.d_q = c.Take(t * h * kB, sc);
  p.d_k = c.Take(t * h * kB, sc);
  p.d_v = c.Take(t * h * kB, sc);
  p.d_scores = c.Take(nbTT * kB, sc);
  p.d_logits = c.Take(t * s.vocab * kB, sc);
  p.d_up = c.Take(t * 4 * h * kB, sc);
  p.scores = c.Take(nbTT * kF, sc);
  p.resid = c.Take(t * h * kF, sc);
  p.d_resid = c.Take(t * h * kF, sc);
  p.logits = c.Take(t * s.vocab * kF, sc);
  p.d_up_f32 = c.Take(t * 4 * h * kF, sc);
  p.total_bytes = c.end();
  return p;
}

int64_t LayersThatFit(const ModelShape& shape, int world, bool adam, int64_t free_bytes) {
  // The plan grows by the same amount per layer, so two plans give the per-layer cost.
  ModelShape s = shape;
  s.layers = 0;
  const int64_t base = PlanDeviceMemory(s, world, adam).total_bytes + kDeviceReserveBytes;
  s.layers = 1;
  const int64_t per_layer = PlanDeviceMemory(s, world, adam).total_bytes + kDeviceReserveBytes - base;
  if (free_bytes < base || per_layer <= 0) return 0;
  return (free_bytes - base) / per_layer;
}

Status CheckFitsOnDevice(const ModelShape& s, int world, bool adam, int64_t free_bytes) {
  const DeviceMemoryPlan p = PlanDeviceMemory(s, world, adam);
  const int64_t need = p.total_bytes + kDeviceReserveBytes;
  if (need <= free_bytes) return Status::Ok();
  return ResourceExhausted(
      "model " + s.name + " needs " + GiB(need) + " on the device (state " + GiB(p.state_bytes) +
      ", activations " + GiB(p.activation_bytes) + ", scratch " + GiB(p.scratch_bytes) +
      ", reserve " + GiB(kDeviceReserveBytes) + ") but " + GiB(free_bytes) + " is free; " +
      std::to_string(LayersThatFit(s, world, adam, free_bytes)) +
      " layers of this width fit (--layers fit)");
}

}  // namespace loom::train
