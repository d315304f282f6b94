#include "kernels/train/train_step.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "kernels/gemm/bf16.h"
#include "kernels/train/param_layout.h"

namespace loom::train {
namespace {

using gemm::Bf16;
using gemm::DType;
using gemm::GemmDesc;
using gemm::Op;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

GemmDesc Desc(Op a, Op b, int64_t m, int64_t n, int64_t k, DType out, float beta = 0.0f,
              int64_t batch = 1) {
  GemmDesc d = gemm::PackedDesc(a, b, m, n, k, batch, out);
  d.beta = beta;
  return d;
}

// Y[t×out] = X[t×in]·W[in×out]. `out_residual`: the forward output is fp32 and adds into the
// residual stream (beta = 1, C = D), as do the dgrads that feed a residual gradient.
StepGemms::Weight WeightGemms(int64_t t, int64_t in, int64_t out, bool forward_residual,
                              bool dgrad_residual, DType dgrad_out) {
  StepGemms::Weight w;
  w.forward = forward_residual ? Desc(Op::kN, Op::kN, t, out, in, DType::kF32, 1.0f)
                               : Desc(Op::kN, Op::kN, t, out, in, DType::kF32);
  w.dgrad = Desc(Op::kN, Op::kT, t, in, out, dgrad_out, dgrad_residual ? 1.0f : 0.0f);
  w.wgrad = Desc(Op::kT, Op::kN, in, out, t, DType::kF32);
  return w;
}

// Token-major [b, T, heads, d] (row stride `ld`, starting at column `col0`) <-> head-major
// [b, heads, T, d], the packed layout the batched attention GEMMs need.
void ToHeads(const ModelShape& s, const Bf16* src, int64_t ld, int64_t col0, Bf16* dst) {
  const int64_t d = s.hidden / s.heads;
  for (int64_t b = 0; b < s.micro_batch; ++b)
    for (int64_t hd = 0; hd < s.heads; ++hd)
      for (int64_t t = 0; t < s.seq_len; ++t)
        std::copy_n(src + (b * s.seq_len + t) * ld + col0 + hd * d, d,
                    dst + ((b * s.heads + hd) * s.seq_len + t) * d);
}
void FromHeads(const ModelShape& s, const Bf16* src, int64_t ld, int64_t col0, Bf16* dst) {
  const int64_t d = s.hidden / s.heads;
  for (int64_t b = 0; b < s.micro_batch; ++b)
    for (int64_t hd = 0; hd < s.heads; ++hd)
      for (int64_t t = 0; t < s.seq_len; ++t)
        std::copy_n(src + ((b * s.heads + hd) * s.seq_len + t) * d, d,
                    dst + (b * s.seq_len + t) * ld + col0 + hd * d);
}

void ToBf16(const float* src, int64_t n, Bf16* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = Bf16::FromFloat(src[i]);
}

// Causal softmax over each row of `rows` × T scores.
void SoftmaxForward(const float* scores, int64_t rows, int64_t T, Bf16* probs) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = scores + r * T;
    Bf16* p = probs + r * T;
    const int64_t visible = r % T + 1;  // row r is query position r mod T
    const float mx = *std::max_element(x, x + visible);
    float sum = 0;
    for (int64_t j = 0; j < visible; ++j) sum += std::exp(x[j] - mx);
    for (int64_t j = 0; j < T; ++j)
      p[j] = Bf16::FromFloat(j < visible ? std::exp(x[j] - mx) / sum : 0.0f);
  }
}

// dS = scale · P ∘ (dP − rowsum(dP ∘ P)); `scale` is the 1/√d the scores GEMM applied.
void SoftmaxBackward(const Bf16* probs, const float* d_probs, int64_t rows, int64_t T,
                     float scale, Bf16* d_scores) {
  for (int64_t r = 0; r < rows; ++r) {
    const Bf16* p = probs + r * T;
    const float* dp = d_probs + r * T;
    float dot = 0;
    for (int64_t j = 0; j < T; ++j) dot += p[j].ToFloat() * dp[j];
    for (int64_t j = 0; j < T; ++j)
      d_scores[r * T + j] = Bf16::FromFloat(scale * p[j].ToFloat() * (dp[j] - dot));
  }
}

constexpr float kGeluC = 0.7978845608f;  // √(2/π), the tanh approximation GPT-2 uses
void GeluForward(const float* u, int64_t n, Bf16* g) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = u[i];
    g[i] = Bf16::FromFloat(0.5f * x * (1.0f + std::tanh(kGeluC * (x + 0.044715f * x * x * x))));
  }
}
void GeluBackward(const float* u, const float* dg, int64_t n, Bf16* du) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = u[i];
    const float th = std::tanh(kGeluC * (x + 0.044715f * x * x * x));
    const float dth = (1 - th * th) * kGeluC * (1 + 3 * 0.044715f * x * x);
    du[i] = Bf16::FromFloat(dg[i] * (0.5f * (1 + th) + 0.5f * x * dth));
  }
}

// Softmax cross-entropy over the vocabulary, gradient only (the loss value is not needed).
void CrossEntropyBackward(const float* logits, const std::vector<int32_t>& targets, int64_t V,
                          Bf16* d_logits) {
  const float inv_tokens = 1.0f / static_cast<float>(targets.size());
  for (size_t r = 0; r < targets.size(); ++r) {
    const float* x = logits + r * V;
    const float mx = *std::max_element(x, x + V);
    float sum = 0;
    for (int64_t j = 0; j < V; ++j) sum += std::exp(x[j] - mx);
    for (int64_t j = 0; j < V; ++j) {
      const float p = std::exp(x[j] - mx) / sum - (j == targets[r] ? 1.0f : 0.0f);
      d_logits[r * V + j] = Bf16::FromFloat(p * inv_tokens);
    }
  }
}

// Activations one layer keeps from forward for backward.
struct LayerActs {
  std::vector<Bf16> input, q, k, v, probs, context, h1, gelu;
  std::vector<float> up;  // pre-GELU
};

// A gradient bucket in flight: a contiguous range of the flat gradient buffer.
struct Bucket {
  comm::Request request;
  int64_t begin = 0, end = 0;  // elements of the flat gradient buffer
  Clock::time_point started, finished;
  bool done = false;
};

}  // namespace

StepGemms PlanStepGemms(const ModelShape& s) {
  const int64_t t = s.tokens_per_rank(), h = s.hidden, T = s.seq_len;
  const int64_t d = h / s.heads, nb = s.micro_batch * s.heads;
  StepGemms g;
  g.qkv = WeightGemms(t, h, 3 * h, false, true, DType::kF32);
  g.qkv.forward.out_type = DType::kBF16;  // split into heads, not added to the residual
  g.proj = WeightGemms(t, h, h, true, false, DType::kBF16);
  g.mlp_up = WeightGemms(t, h, 4 * h, false, true, DType::kF32);
  g.mlp_down = WeightGemms(t, 4 * h, h, true, false, DType::kF32);
  g.scores = Desc(Op::kN, Op::kT, T, T, d, DType::kF32, 0.0f, nb);
  g.scores.alpha = 1.0f / std::sqrt(static_cast<float>(d));
  g.context = Desc(Op::kN, Op::kN, T, d, T, DType::kBF16, 0.0f, nb);
  g.d_probs = Desc(Op::kN, Op::kT, T, T, d, DType::kF32, 0.0f, nb);
  g.d_values = Desc(Op::kT, Op::kN, T, d, T, DType::kBF16, 0.0f, nb);
  g.d_queries = Desc(Op::kN, Op::kN, T, d, T, DType::kBF16, 0.0f, nb);
  g.d_keys = Desc(Op::kT, Op::kN, T, d, T, DType::kBF16, 0.0f, nb);
  g.logits = Desc(Op::kN, Op::kT, t, s.vocab, h, DType::kF32);
  g.d_head_input = Desc(Op::kN, Op::kN, t, h, s.vocab, DType::kF32);
  g.d_embedding = Desc(Op::kT, Op::kN, s.vocab, h, t, DType::kF32);
  return g;
}

double PlannedFlopsPerRank(const ModelShape& s) {
  const StepGemms g = PlanStepGemms(s);
  double layer = 0;
  for (const StepGemms::Weight* w : {&g.qkv, &g.proj, &g.mlp_up, &g.mlp_down})
    layer += gemm::GemmFlops(w->forward) + gemm::GemmFlops(w->dgrad) + gemm::GemmFlops(w->wgrad);
  for (const GemmDesc* a : {&g.scores, &g.context, &g.d_probs, &g.d_values, &g.d_queries,
                            &g.d_keys})
    layer += gemm::GemmFlops(*a);
  return layer * static_cast<double>(s.layers) + gemm::GemmFlops(g.logits) +
         gemm::GemmFlops(g.d_head_input) + gemm::GemmFlops(g.d_embedding);
}

double AllReduceBusBandwidth(int64_t bytes, int ranks, double seconds) {
  if (ranks <= 1 || seconds <= 0) return 0;
  return static_cast<double>(bytes) * 2.0 * (ranks - 1) / ranks / seconds;
}

StepReport MakeReport(const ModelShape& shape, int world, const StepStats& stats,
                      double peak_flops_per_rank) {
  const double flops = ModelFlopsPerStep(shape, world);
  StepReport r;
  r.step_ms = stats.step_s * 1e3;
  r.compute_ms = stats.compute_s * 1e3;
  r.exposed_comm_ms = stats.exposed_comm_s * 1e3;
  r.tflops = stats.step_s > 0 ? flops / stats.step_s / 1e12 : 0;
  r.busbw_gbps = AllReduceBusBandwidth(stats.allreduce_bytes, world, stats.comm_span_s) / 1e9;
  r.mfu = Mfu(flops, stats.step_s, world, peak_flops_per_rank);
  return r;
}

struct Trainer::State {
  ModelShape shape;
  TrainOptions options;
  comm::Communicator* comm = nullptr;
  StepGemms plan;
  ParamLayout layout;
  int64_t embedding_offset = 0;  // flat layout: layer L-1, ..., layer 0, embedding
  int64_t adam_step = 0;

  std::vector<float> master, grads, adam_m, adam_v;  // fp32, flat
  std::vector<Bf16> weights;                         // bf16 copy the GEMMs read, flat
  std::vector<int32_t> tokens, targets;
  std::vector<LayerActs> acts;
  std::vector<Bf16> final_input, qkv_tok, d_tok, d_heads, d_q, d_k, d_v, ctx_heads, d_scores;
  std::vector<float> resid, d_resid, scores, logits, d_up_f32;
  std::vector<Bf16> d_logits, d_up;

  std::vector<Bucket> buckets;
  int64_t bucket_begin = 0;  // first layer-gradient element not yet in a launched bucket
  StepStats stats;

  int64_t LayerOffset(int64_t l) const { return (shape.layers - 1 - l) * layout.layer_elems(); }

  Status Run(const GemmDesc& d, const void* a, const void* b, const void* c, void* out) {
    stats.issued_flops += gemm::GemmFlops(d);
    return gemm::Gemm(d, a, b, c, out, options.gemm_backend);
  }

  void Allocate();
  Status Forward();
  Status BackwardLayer(int64_t l);
  Status Backward();
  Status LaunchBucket(int64_t begin, int64_t end);
  Status AddEmbeddingLookupGradient();
  Status PollBuckets();
  Status WaitBucket(Bucket& b);
  void RecordCommSpan();
  void OptimizerUpdate(int64_t begin, int64_t end);
  Status UpdateAsBucketsComplete();
};

void Trainer::State::Allocate() {
  const ModelShape& s = shape;
  const int64_t t = s.tokens_per_rank(), h = s.hidden;
  const int64_t nb = s.micro_batch * s.heads, T = s.seq_len;
  const int64_t head_elems = t * h;  // nb × T × d
  embedding_offset = s.layers * layout.layer_elems();
  const int64_t n = layout.total();
  master = InitialWeights(n, options.seed);
  grads.assign(n, 0.0f);
  adam_m.assign(n, 0.0f);
  adam_v.assign(n, 0.0f);
  weights.resize(n);
  ToBf16(master.data(), n, weights.data());
  Batch batch = MakeBatch(s, options.seed, comm ? comm->rank() : 0);
  tokens = std::move(batch.tokens);
  targets = std::move(batch.targets);

  acts.resize(s.layers);
  for (LayerActs& a : acts) {
    a.input.resize(t * h);
    a.q.resize(head_elems), a.k.resize(head_elems), a.v.resize(head_elems);
    a.probs.resize(nb * T * T);
    a.context.resize(t * h);
    a.h1.resize(t * h);
    a.up.resize(t * 4 * h);
    a.gelu.resize(t * 4 * h);
  }
  final_input.resize(t * h);
  qkv_tok.resize(t * 3 * h);
  d_tok.resize(t * h);
  d_heads.resize(head_elems);
  ctx_heads.resize(head_elems);
  d_q.resize(head_elems), d_k.resize(head_elems), d_v.resize(head_elems);
  d_scores.resize(nb * T * T);
  scores.resize(nb * T * T);
  resid.resize(t * h);
  d_resid.resize(t * h);
  logits.resize(t * s.vocab);
  d_logits.resize(t * s.vocab);
  d_up_f32.resize(t * 4 * h);
  d_up.resize(t * 4 * h);
}

Status Trainer::State::Forward() {
  const ModelShape& s = shape;
  const int64_t t = s.tokens_per_rank(), h = s.hidden, nb = s.micro_batch * s.heads;
  const Bf16* embedding = weights.data() + embedding_offset;
  for (int64_t i = 0; i < t; ++i)
    for (int64_t j = 0; j < h; ++j) resid[i * h + j] = embedding[tokens[i] * h + j].ToFloat();
  for (int64_t l = 0; l < s.layers; ++l) {
    LayerActs& a = acts[l];
    const Bf16* w = weights.data() + LayerOffset(l);
    const Bf16 *w_qkv = w, *w_proj = w + layout.qkv, *w_up = w_proj + layout.proj,
               *w_down = w_up + layout.up;
    ToBf16(resid.data(), t * h, a.input.data());
    LOOM_RETURN_IF_ERROR(Run(plan.qkv.forward, a.input.data(), w_qkv, nullptr, qkv_tok.data()));
    ToHeads(s, qkv_tok.data(), 3 * h, 0, a.q.data());
    ToHeads(s, qkv_tok.data(), 3 * h, h, a.k.data());
    ToHeads(s, qkv_tok.data(), 3 * h, 2 * h, a.v.data());
    LOOM_RETURN_IF_ERROR(Run(plan.scores, a.q.data(), a.k.data(), nullptr, scores.data()));
    SoftmaxForward(scores.data(), nb * s.seq_len, s.seq_len, a.probs.data());
    LOOM_RETURN_IF_ERROR(Run(plan.context, a.probs.data(), a.v.data(), nullptr, ctx_heads.data()));
    FromHeads(s, ctx_heads.data(), h, 0, a.context.data());
    LOOM_RETURN_IF_ERROR(
        Run(plan.proj.forward, a.context.data(), w_proj, resid.data(), resid.data()));
    ToBf16(resid.data(), t * h, a.h1.data());
    LOOM_RETURN_IF_ERROR(Run(plan.mlp_up.forward, a.h1.data(), w_up, nullptr, a.up.data()));
    GeluForward(a.up.data(), t * 4 * h, a.gelu.data());
    LOOM_RETURN_IF_ERROR(
        Run(plan.mlp_down.forward, a.gelu.data(), w_down, resid.data(), resid.data()));
  }
  ToBf16(resid.data(), t * h, final_input.data());
  LOOM_RETURN_IF_ERROR(Run(plan.logits, final_input.data(), embedding, nullptr, logits.data()));
  CrossEntropyBackward(logits.data(), targets, s.vocab, d_logits.data());
  return Status::Ok();
}

// d_resid holds the gradient of the layer's output on entry and of its input on return; the
// layer's weight gradients land in `grads`.
Status Trainer::State::BackwardLayer(int64_t l) {
  const ModelShape& s = shape;
  const int64_t t = s.tokens_per_rank(), h = s.hidden, nb = s.micro_batch * s.heads;
  const LayerActs& a = acts[l];
  const Bf16* w = weights.data() + LayerOffset(l);
  const Bf16 *w_qkv = w, *w_proj = w + layout.qkv, *w_up = w_proj + layout.proj,
             *w_down = w_up + layout.up;
  float* g = grads.data() + LayerOffset(l);
  float *g_qkv = g, *g_proj = g + layout.qkv, *g_up = g_proj + layout.proj,
        *g_down = g_up + layout.up;

  // MLP: out = resid + gelu(h1·W_up)·W_down.
  ToBf16(d_resid.data(), t * h, d_tok.data());
  LOOM_RETURN_IF_ERROR(Run(plan.mlp_down.wgrad, a.gelu.data(), d_tok.data(), nullptr, g_down));
  LOOM_RETURN_IF_ERROR(Run(plan.mlp_down.dgrad, d_tok.data(), w_down, nullptr, d_up_f32.data()));
  GeluBackward(a.up.data(), d_up_f32.data(), t * 4 * h, d_up.data());
  LOOM_RETURN_IF_ERROR(Run(plan.mlp_up.wgrad, a.h1.data(), d_up.data(), nullptr, g_up));
  LOOM_RETURN_IF_ERROR(Run(plan.mlp_up.dgrad, d_up.data(), w_up, d_resid.data(), d_resid.data()));

  // Attention: h1 = input + context·W_proj.
  ToBf16(d_resid.data(), t * h, d_tok.data());
  LOOM_RETURN_IF_ERROR(Run(plan.proj.wgrad, a.context.data(), d_tok.data(), nullptr, g_proj));
  std::vector<Bf16>& d_context = qkv_tok;  // scratch: t × h of its t × 3h
  LOOM_RETURN_IF_ERROR(Run(plan.proj.dgrad, d_tok.data(), w_proj, nullptr, d_context.data()));
  ToHeads(s, d_context.data(), h, 0, d_heads.data());
  LOOM_RETURN_IF_ERROR(Run(plan.d_probs, d_heads.data(), a.v.data(), nullptr, scores.data()));
  LOOM_RETURN_IF_ERROR(Run(plan.d_values, a.probs.data(), d_heads.data(), nullptr, d_v.data()));
  SoftmaxBackward(a.probs.data(), scores.data(), nb * s.seq_len, s.seq_len, plan.scores.alpha,
                  d_scores.data());
  LOOM_RETURN_IF_ERROR(Run(plan.d_queries, d_scores.data(), a.k.data(), nullptr, d_q.data()));
  LOOM_RETURN_IF_ERROR(Run(plan.d_keys, d_scores.data(), a.q.data(), nullptr, d_k.data()));
  FromHeads(s, d_q.data(), 3 * h, 0, qkv_tok.data());
  FromHeads(s, d_k.data(), 3 * h, h, qkv_tok.data());
  FromHeads(s, d_v.data(), 3 * h, 2 * h, qkv_tok.data());
  LOOM_RETURN_IF_ERROR(Run(plan.qkv.wgrad, a.input.data(), qkv_tok.data(), nullptr, g_qkv));
  return Run(plan.qkv.dgrad, qkv_tok.data(), w_qkv, d_resid.data(), d_resid.data());
}

// Starts the all-reduce of grads[begin, end) without waiting: compute goes on.
Status Trainer::State::LaunchBucket(int64_t begin, int64_t end) {
  if (comm == nullptr || comm->size() == 1 || end <= begin) return Status::Ok();
  const auto t0 = Clock::now();
  Bucket& b = buckets.emplace_back();
  b.started = t0;
  b.begin = begin, b.end = end;
  float* p = grads.data() + begin;
  const size_t count = static_cast<size_t>(end - begin);
  Status st = comm->AllReduce(p, p, count, comm::DType::kFloat32, comm::RedOp::kAvg, &b.request);
  stats.allreduce_bytes += static_cast<int64_t>(count * sizeof(float));
  ++stats.buckets;
  stats.exposed_comm_s += Since(t0);
  return st;
}

// The embedding lookup's gradient touches only the rows of this step's tokens, so instead of a
// second dense V×h all-reduce after the last layer (all of it exposed) the ranks all-gather their
// token ids and input gradients (t·h values each) and every rank scatter-adds all of them, in the
// same order, onto the LM head's part, reduced long before. `d_resid` holds the input gradient.
Status Trainer::State::AddEmbeddingLookupGradient() {
  const int64_t t = shape.tokens_per_rank(), h = shape.hidden;
  const int world = comm ? comm->size() : 1;
  std::vector<int32_t> all_tokens = tokens;
  std::vector<float> all_grads = d_resid;
  if (world > 1) {
    const auto t0 = Clock::now();
    all_tokens.resize(t * world);
    all_grads.resize(t * h * world);
    LOOM_RETURN_IF_ERROR(comm->AllGather(tokens.data(), all_tokens.data(), t,
                                         comm::DType::kInt32));
    LOOM_RETURN_IF_ERROR(comm->AllGather(d_resid.data(), all_grads.data(), t * h,
                                         comm::DType::kFloat32));
    stats.exposed_comm_s += Since(t0);
    // The embedding's bucket, launched first, is reduced in place: wait before adding to it.
    if (!buckets.empty()) LOOM_RETURN_IF_ERROR(WaitBucket(buckets.front()));
  }
  const auto t0 = Clock::now();
  float* g_embedding = grads.data() + embedding_offset;
  const float scale = 1.0f / static_cast<float>(world);  // the all-reduce averages, so must this
  for (int64_t i = 0; i < t * world; ++i)
    for (int64_t j = 0; j < h; ++j) g_embedding[all_tokens[i] * h + j] += scale * all_grads[i * h + j];
  stats.compute_s += Since(t0);
  return Status::Ok();
}

// Lets MPI's non-blocking collectives progress (libnbc moves only inside MPI calls) and notes
// which buckets finished, for the all-reduce's span; never blocks.
Status Trainer::State::PollBuckets() {
  const auto t0 = Clock::now();
  for (Bucket& b : buckets) {
    if (b.done) continue;
    LOOM_ASSIGN_OR_RETURN(const bool done, b.request.Test());
    if (done) b.done = true, b.finished = Clock::now();
  }
  stats.exposed_comm_s += Since(t0);
  return Status::Ok();
}

// Blocks until `b` is reduced: the time spent here is communication the step did not hide.
Status Trainer::State::WaitBucket(Bucket& b) {
  if (b.done) return Status::Ok();
  const auto t0 = Clock::now();
  LOOM_RETURN_IF_ERROR(b.request.Wait());
  b.done = true, b.finished = Clock::now();
  stats.exposed_comm_s += Since(t0);
  return Status::Ok();
}

void Trainer::State::RecordCommSpan() {
  if (buckets.empty()) return;
  Clock::time_point last = buckets.front().finished;
  for (const Bucket& b : buckets) last = std::max(last, b.finished);
  stats.comm_span_s = std::chrono::duration<double>(last - buckets.front().started).count();
}

Status Trainer::State::Backward() {
  const ModelShape& s = shape;
  const Bf16* embedding = weights.data() + embedding_offset;
  float* g_embedding = grads.data() + embedding_offset;
  const int64_t bucket_elems = options.bucket_bytes / static_cast<int64_t>(sizeof(float));
  auto compute_t0 = Clock::now();
  LOOM_RETURN_IF_ERROR(
      Run(plan.d_head_input, d_logits.data(), embedding, nullptr, d_resid.data()));
  LOOM_RETURN_IF_ERROR(
      Run(plan.d_embedding, d_logits.data(), final_input.data(), nullptr, g_embedding));
  stats.compute_s += Since(compute_t0);
  // The LM head's part of the tied embedding's gradient is complete: the largest bucket of a
  // small model goes first, hidden behind every layer's backward.
  LOOM_RETURN_IF_ERROR(LaunchBucket(embedding_offset, static_cast<int64_t>(grads.size())));
  for (int64_t l = s.layers - 1; l >= 0; --l) {
    compute_t0 = Clock::now();
    LOOM_RETURN_IF_ERROR(BackwardLayer(l));
    stats.compute_s += Since(compute_t0);
    // Layer l's gradients are final: reduce them while the layers below compute. Layer 0's
    // bucket has nothing below it to hide behind; it goes last (see the end).
    const int64_t end = LayerOffset(l) + layout.layer_elems();
    if (l > 0 && end - bucket_begin >= bucket_elems) {
      LOOM_RETURN_IF_ERROR(LaunchBucket(bucket_begin, end));
      bucket_begin = end;
    }
    LOOM_RETURN_IF_ERROR(PollBuckets());
  }
  LOOM_RETURN_IF_ERROR(AddEmbeddingLookupGradient());
  // Last, so that on backends that run collectives in issue order (shm) the all-gather above
  // does not queue behind it; it overlaps the optimizer's update of the other buckets.
  return LaunchBucket(bucket_begin, embedding_offset);
}

void Trainer::State::OptimizerUpdate(int64_t begin, int64_t end) {
  const float lr = options.learning_rate;
  if (options.optimizer == Optimizer::kSgd) {
    for (int64_t i = begin; i < end; ++i) master[i] -= lr * grads[i];
  } else {
    constexpr float kBeta1 = 0.9f, kBeta2 = 0.95f, kEps = 1e-8f;
    const float c1 = 1.0f - std::pow(kBeta1, static_cast<float>(adam_step));
    const float c2 = 1.0f - std::pow(kBeta2, static_cast<float>(adam_step));
    for (int64_t i = begin; i < end; ++i) {
      adam_m[i] = kBeta1 * adam_m[i] + (1 - kBeta1) * grads[i];
      adam_v[i] = kBeta2 * adam_v[i] + (1 - kBeta2) * grads[i] * grads[i];
      master[i] -= lr * (adam_m[i] / c1) / (std::sqrt(adam_v[i] / c2) + kEps);
    }
  }
  ToBf16(master.data() + begin, end - begin, weights.data() + begin);
}

// Updates each bucket's weights as soon as its all-reduce is done, in launch order, so the
// update of the earlier buckets hides the reduction of the last one.
Status Trainer::State::UpdateAsBucketsComplete() {
  ++adam_step;
  if (buckets.empty()) {  // a single rank: nothing was reduced
    const auto t0 = Clock::now();
    OptimizerUpdate(0, static_cast<int64_t>(master.size()));
    stats.compute_s += Since(t0);
    return Status::Ok();
  }
  for (Bucket& b : buckets) {
    LOOM_RETURN_IF_ERROR(WaitBucket(b));
    const auto t0 = Clock::now();
    OptimizerUpdate(b.begin, b.end);
    stats.compute_s += Since(t0);
  }
  RecordCommSpan();
  return Status::Ok();
}

StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const ModelShape& shape,
                                                   const TrainOptions& options,
                                                   comm::Communicator* comm) {
  LOOM_RETURN_IF_ERROR(Validate(shape));
  if (options.gemm_backend != gemm::Backend::kCpu) {
    // Activations and weights live in host vectors; the device backends are GpuTrainer's.
    return InvalidArgument("train: the CPU trainer runs the cpu GEMM backend (loom and cublas: "
                           "GpuTrainer, gpu_trainer.h)");
  }
  if (options.bucket_bytes < 0) return InvalidArgument("train: bucket_bytes must be >= 0");
  auto state = std::make_unique<State>();
  state->shape = shape;
  state->options = options;
  state->comm = comm;
  state->plan = PlanStepGemms(shape);
  state->layout = LayoutOf(shape);
  state->Allocate();
  return std::unique_ptr<Trainer>(new Trainer(std::move(state)));
}

Trainer::Trainer(std::unique_ptr<State> state) : s_(std::move(state)) {}
Trainer::~Trainer() = default;

const std::vector<float>& Trainer::gradients() const { return s_->grads; }
const ModelShape& Trainer::shape() const { return s_->shape; }

StatusOr<StepStats> Trainer::Step() {
  State& s = *s_;
  s.stats = StepStats{};
  s.buckets.clear();
  s.bucket_begin = 0;
  const auto step_t0 = Clock::now();
  auto t0 = Clock::now();
  LOOM_RETURN_IF_ERROR(s.Forward());
  s.stats.compute_s += Since(t0);
  LOOM_RETURN_IF_ERROR(s.Backward());  // returns with the last bucket still in flight
  LOOM_RETURN_IF_ERROR(s.UpdateAsBucketsComplete());
  s.stats.step_s = Since(step_t0);
  return s.stats;
}

}  // namespace loom::train
