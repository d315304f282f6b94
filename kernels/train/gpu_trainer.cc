#include "kernels/train/gpu_trainer.h"

#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <string>

#include "kernels/train/bucket_plan.h"
#include "kernels/train/device_memory.h"
#include "kernels/train/param_layout.h"
#include "kernels/train/step_schedule.h"
#include "kernels/train/step_timeline.h"
#include "kernels/train/train_kernels.h"

namespace loom::train {
namespace {

using gemm::GemmDesc;
using Clock = std::chrono::steady_clock;

Status CudaFailure(cudaError_t e, const char* expr, const char* file, int line) {
  return Internal(std::string(file) + ":" + std::to_string(line) + ": " + expr + " failed: " +
                  cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

#define LOOM_TRAIN_CUDA(expr)                                                   \
  do {                                                                          \
    const cudaError_t loom_train_err_ = (expr);                                 \
    if (loom_train_err_ != cudaSuccess)                                         \
      return CudaFailure(loom_train_err_, #expr, __FILE__, __LINE__);           \
  } while (0)

// Timing events, created once and reused every step (creating events per step costs and leaks
// on an error path).
class EventPool {
 public:
  ~EventPool() {
    for (cudaEvent_t e : events_) (void)cudaEventDestroy(e);
  }
  StatusOr<cudaEvent_t> Next() {
    if (next_ == events_.size()) {
      cudaEvent_t e;
      LOOM_TRAIN_CUDA(cudaEventCreate(&e));
      events_.push_back(e);
    }
    return events_[next_++];
  }
  void Reset() { next_ = 0; }

 private:
  std::vector<cudaEvent_t> events_;
  size_t next_ = 0;
};

// A busy span of one stream, between two recorded events.
struct Span {
  cudaEvent_t begin = nullptr, end = nullptr;
};

}  // namespace

StatusOr<DeviceInfo> CurrentDeviceInfo() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    return Unavailable(std::string("no CUDA device: ") +
                       (e != cudaSuccess ? cudaGetErrorString(e) : "0 devices"));
  }
  int device = 0;
  cudaDeviceProp prop{};
  LOOM_TRAIN_CUDA(cudaGetDevice(&device));
  LOOM_TRAIN_CUDA(cudaGetDeviceProperties(&prop, device));
  size_t free_bytes = 0, total_bytes = 0;
  LOOM_TRAIN_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
  return DeviceInfo{prop.name, static_cast<int64_t>(free_bytes), static_cast<int64_t>(total_bytes),
                    prop.major, prop.minor};
}

StatusOr<std::unique_ptr<DeviceStreams>> DeviceStreams::Create() {
  std::unique_ptr<DeviceStreams> s(new DeviceStreams);
  cudaStream_t compute = nullptr, comm = nullptr;
  LOOM_TRAIN_CUDA(cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking));
  s->compute_ = compute;
  LOOM_TRAIN_CUDA(cudaStreamCreateWithFlags(&comm, cudaStreamNonBlocking));
  s->comm_ = comm;
  return s;
}

DeviceStreams::~DeviceStreams() {
  if (compute_ != nullptr) (void)cudaStreamDestroy(static_cast<cudaStream_t>(compute_));
  if (comm_ != nullptr) (void)cudaStreamDestroy(static_cast<cudaStream_t>(comm_));
}

struct GpuTrainer::State {
  ModelShape shape;
  TrainOptions options;
  comm::Communicator* comm = nullptr;
  cudaStream_t compute = nullptr, comm_stream = nullptr;
  StepGemms plan;
  ParamLayout layout;
  DeviceMemoryPlan mem;
  std::vector<GradBucket> buckets;
  std::vector<StepOp> schedule;  // PlanStepSchedule: what Step() executes, in order
  char* base = nullptr;  // the one allocation; mem's offsets point into it
  int64_t adam_step = 0;

  EventPool events;
  cudaEvent_t step_begin = nullptr;
  Span open_compute;                 // the compute span in progress (begin recorded)
  std::vector<Span> compute_spans, comm_spans;
  std::vector<cudaEvent_t> bucket_done;  // per bucket: its all-reduce's end on the comm stream
  cudaEvent_t gather_done = nullptr;      // the lookup's all-gathers' end
  std::vector<comm::Request> requests;
  StepStats stats;

  ~State() {
    if (compute != nullptr) (void)cudaStreamSynchronize(compute);
    if (comm_stream != nullptr) (void)cudaStreamSynchronize(comm_stream);
    requests.clear();
    if (step_begin != nullptr) (void)cudaEventDestroy(step_begin);
    if (base != nullptr) (void)cudaFree(base);
  }

  template <class T>
  T* F(int64_t offset) const { return reinterpret_cast<T*>(base + offset); }
  float* F32(int64_t offset) const { return F<float>(offset); }
  void* B16(int64_t offset) const { return base + offset; }  // bf16 buffers
  void* W(int64_t element) const { return base + mem.weights + 2 * element; }  // bf16 weights
  float* G(int64_t element) const { return F32(mem.grads) + element; }
  int world() const { return comm ? comm->size() : 1; }

  Status Gemm(const GemmDesc& d, const void* a, const void* b, const void* c, void* out) {
    stats.issued_flops += gemm::GemmFlops(d);
    return gemm::Gemm(d, a, b, c, out, options.gemm_backend, compute);
  }
  StatusOr<cudaEvent_t> Record(cudaStream_t stream) {
    LOOM_ASSIGN_OR_RETURN(cudaEvent_t e, events.Next());
    LOOM_TRAIN_CUDA(cudaEventRecord(e, stream));
    return e;
  }
  Status BeginCompute() {
    LOOM_ASSIGN_OR_RETURN(open_compute.begin, Record(compute));
    return Status::Ok();
  }
  Status EndCompute() {
    LOOM_ASSIGN_OR_RETURN(open_compute.end, Record(compute));
    compute_spans.push_back(open_compute);
    return Status::Ok();
  }
  // The compute stream stops until `done` (on the comm stream); the wait is not compute.
  Status ComputeWaitsFor(cudaEvent_t done) {
    LOOM_RETURN_IF_ERROR(EndCompute());
    LOOM_TRAIN_CUDA(cudaStreamWaitEvent(compute, done, 0));
    return BeginCompute();
  }
  // The comm stream starts only after everything enqueued on compute so far; returns the span's
  // begin event, recorded on the comm stream.
  StatusOr<cudaEvent_t> CommAfterCompute() {
    LOOM_ASSIGN_OR_RETURN(cudaEvent_t marker, Record(compute));
    LOOM_TRAIN_CUDA(cudaStreamWaitEvent(comm_stream, marker, 0));
    return Record(comm_stream);
  }

  Status Initialize();
  Status Execute(const StepOp& op);
  Status Forward();
  Status HeadBackward();
  Status BackwardLayer(int64_t l);
  Status LaunchBucket(int64_t i);
  Status GatherLookup();
  Status LookupScatter();
  Status OptimizerUpdate(int64_t begin, int64_t end);
  Status Account(double wall_s);
};

Status GpuTrainer::State::Initialize() {
  const int64_t n = layout.total();
  LOOM_TRAIN_CUDA(cudaMalloc(reinterpret_cast<void**>(&base), mem.total_bytes));
  LOOM_TRAIN_CUDA(cuda::InitWeights(options.seed, n, F32(mem.master), compute));
  LOOM_TRAIN_CUDA(cuda::ToBf16(F32(mem.master), n, W(0), compute));
  LOOM_TRAIN_CUDA(cudaMemsetAsync(G(0), 0, n * sizeof(float), compute));
  if (mem.adam_m >= 0) {
    LOOM_TRAIN_CUDA(cudaMemsetAsync(F32(mem.adam_m), 0, n * sizeof(float), compute));
    LOOM_TRAIN_CUDA(cudaMemsetAsync(F32(mem.adam_v), 0, n * sizeof(float), compute));
  }
  const Batch batch = MakeBatch(shape, options.seed, comm ? comm->rank() : 0);
  const size_t token_bytes = batch.tokens.size() * sizeof(int32_t);
  LOOM_TRAIN_CUDA(cudaMemcpy(F<int32_t>(mem.tokens), batch.tokens.data(), token_bytes,
                             cudaMemcpyHostToDevice));
  LOOM_TRAIN_CUDA(cudaMemcpy(F<int32_t>(mem.targets), batch.targets.data(), token_bytes,
                             cudaMemcpyHostToDevice));
  LOOM_TRAIN_CUDA(cudaEventCreate(&step_begin));
  LOOM_TRAIN_CUDA(cudaStreamSynchronize(compute));
  return Status::Ok();
}

Status GpuTrainer::State::Forward() {
  const ModelShape& s = shape;
  const int64_t t = s.tokens_per_rank(), h = s.hidden, b = s.micro_batch, T = s.seq_len;
  const int64_t a = s.heads, d = h / a, rows = b * a * T;
  const void* embedding = W(layout.embedding_offset());
  float* resid = F32(mem.resid);
  void* qkv_tok = B16(mem.qkv_tok);
  LOOM_TRAIN_CUDA(cuda::EmbeddingForward(F<int32_t>(mem.tokens), embedding, t, h, resid, compute));
  for (int64_t l = 0; l < s.layers; ++l) {
    const LayerRegions& r = mem.layers[l];
    const int64_t w = layout.LayerOffset(l);
    const void *w_qkv = W(w), *w_proj = W(w + layout.qkv), *w_up = W(w + layout.qkv + layout.proj),
               *w_down = W(w + layout.qkv + layout.proj + layout.up);
    LOOM_TRAIN_CUDA(cuda::ToBf16(resid, t * h, B16(r.input), compute));
    LOOM_RETURN_IF_ERROR(Gemm(plan.qkv.forward, B16(r.input), w_qkv, nullptr, qkv_tok));
    LOOM_TRAIN_CUDA(cuda::ToHeads(qkv_tok, 3 * h, 0, b, T, a, d, B16(r.q), compute));
    LOOM_TRAIN_CUDA(cuda::ToHeads(qkv_tok, 3 * h, h, b, T, a, d, B16(r.k), compute));
    LOOM_TRAIN_CUDA(cuda::ToHeads(qkv_tok, 3 * h, 2 * h, b, T, a, d, B16(r.v), compute));
    LOOM_RETURN_IF_ERROR(Gemm(plan.scores, B16(r.q), B16(r.k), nullptr, F32(mem.scores)));
    LOOM_TRAIN_CUDA(cuda::CausalSoftmaxForward(F32(mem.scores), rows, T, B16(r.probs), compute));
    LOOM_RETURN_IF_ERROR(Gemm(plan.context, B16(r.probs), B16(r.v), nullptr, B16(mem.ctx_heads)));
    LOOM_TRAIN_CUDA(cuda::FromHeads(B16(mem.ctx_heads), h, 0, b, T, a, d, B16(r.context), compute));
    LOOM_RETURN_IF_ERROR(Gemm(plan.proj.forward, B16(r.context), w_proj, resid, resid));
    LOOM_TRAIN_CUDA(cuda::ToBf16(resid, t * h, B16(r.h1), compute));
    LOOM_RETURN_IF_ERROR(Gemm(plan.mlp_up.forward, B16(r.h1), w_up, nullptr, F32(r.up)));
    LOOM_TRAIN_CUDA(cuda::GeluForward(F32(r.up), t * 4 * h, B16(r.gelu), compute));
    LOOM_RETURN_IF_ERROR(Gemm(plan.mlp_down.forward, B16(r.gelu), w_down, resid, resid));
  }
  LOOM_TRAIN_CUDA(cuda::ToBf16(resid, t * h, B16(mem.final_input), compute));
  LOOM_RETURN_IF_ERROR(Gemm(plan.logits, B16(mem.final_input), embedding, nullptr, F32(mem.logits)));
  LOOM_TRAIN_CUDA(cuda::CrossEntropyBackward(F32(mem.logits), F<int32_t>(mem.targets), t, s.vocab,
                                             B16(mem.d_logits), compute));
  return Status::Ok();
}

// As the CPU step: d_resid holds the gradient of the layer's output on entry, of its input on
// return; the layer's weight gradients land in the flat gradient buffer.
Status GpuTrainer::State::BackwardLayer(int64_t l) {
  const ModelShape& s = shape;
  const int64_t t = s.tokens_per_rank(), h = s.hidden, b = s.micro_batch, T = s.seq_len;
  const int64_t a = s.heads, d = h / a, rows = b * a * T;
  const LayerRegions& r = mem.layers[l];
  const int64_t w = layout.LayerOffset(l);
  const int64_t o_proj = w + layout.qkv, o_up = o_proj + layout.proj, o_down = o_up + layout.up;
  float* d_resid = F32(mem.d_resid);
  void* d_tok = B16(mem.d_tok);
  void* qkv_tok = B16(mem.qkv_tok);

  LOOM_TRAIN_CUDA(cuda::ToBf16(d_resid, t * h, d_tok, compute));
  LOOM_RETURN_IF_ERROR(Gemm(plan.mlp_down.wgrad, B16(r.gelu), d_tok, nullptr, G(o_down)));
  LOOM_RETURN_IF_ERROR(Gemm(plan.mlp_down.dgrad, d_tok, W(o_down), nullptr, F32(mem.d_up_f32)));
  LOOM_TRAIN_CUDA(cuda::GeluBackward(F32(r.up), F32(mem.d_up_f32), t * 4 * h, B16(mem.d_up), compute));
  LOOM_RETURN_IF_ERROR(Gemm(plan.mlp_up.wgrad, B16(r.h1), B16(mem.d_up), nullptr, G(o_up)));
  LOOM_RETURN_IF_ERROR(Gemm(plan.mlp_up.dgrad, B16(mem.d_up), W(o_up), d_resid, d_resid));

  LOOM_TRAIN_CUDA(cuda::ToBf16(d_resid, t * h, d_tok, compute));
  LOOM_RETURN_IF_ERROR(Gemm(plan.proj.wgrad, B16(r.context), d_tok, nullptr, G(o_proj)));
  void* d_context = qkv_tok;  // scratch: t × h of its t × 3h
  LOOM_RETURN_IF_ERROR(Gemm(plan.proj.dgrad, d_tok, W(o_proj), nullptr, d_context));
  LOOM_TRAIN_CUDA(cuda::ToHeads(d_context, h, 0, b, T, a, d, B16(mem.d_heads), compute));
  LOOM_RETURN_IF_ERROR(Gemm(plan.d_probs, B16(mem.d_heads), B16(r.v), nullptr, F32(mem.scores)));
  LOOM_RETURN_IF_ERROR(Gemm(plan.d_values, B16(r.probs), B16(mem.d_heads), nullptr, B16(mem.d_v)));
  LOOM_TRAIN_CUDA(cuda::SoftmaxBackward(B16(r.probs), F32(mem.scores), rows, T, plan.scores.alpha,
                                        B16(mem.d_scores), compute));
  LOOM_RETURN_IF_ERROR(Gemm(plan.d_queries, B16(mem.d_scores), B16(r.k), nullptr, B16(mem.d_q)));
  LOOM_RETURN_IF_ERROR(Gemm(plan.d_keys, B16(mem.d_scores), B16(r.q), nullptr, B16(mem.d_k)));
  LOOM_TRAIN_CUDA(cuda::FromHeads(B16(mem.d_q), 3 * h, 0, b, T, a, d, qkv_tok, compute));
  LOOM_TRAIN_CUDA(cuda::FromHeads(B16(mem.d_k), 3 * h, h, b, T, a, d, qkv_tok, compute));
  LOOM_TRAIN_CUDA(cuda::FromHeads(B16(mem.d_v), 3 * h, 2 * h, b, T, a, d, qkv_tok, compute));
  LOOM_RETURN_IF_ERROR(Gemm(plan.qkv.wgrad, B16(r.input), qkv_tok, nullptr, G(w)));
  return Gemm(plan.qkv.dgrad, qkv_tok, W(w), d_resid, d_resid);
}

// Bucket i's all-reduce on the comm stream, after the compute that produced its gradients.
Status GpuTrainer::State::LaunchBucket(int64_t i) {
  const GradBucket& g = buckets[i];
  Span span;
  LOOM_ASSIGN_OR_RETURN(span.begin, CommAfterCompute());
  const size_t count = static_cast<size_t>(g.end - g.begin);
  LOOM_RETURN_IF_ERROR(comm->AllReduce(G(g.begin), G(g.begin), count, comm::DType::kFloat32,
                                       comm::RedOp::kAvg, &requests.emplace_back()));
  LOOM_ASSIGN_OR_RETURN(span.end, Record(comm_stream));
  comm_spans.push_back(span);
  bucket_done[i] = span.end;
  stats.allreduce_bytes += static_cast<int64_t>(count * sizeof(float));
  ++stats.buckets;
  return Status::Ok();
}

// As the CPU step: the lookup's gradient touches only this step's token rows, so the ranks
// all-gather token ids and input gradients and each adds all of them onto the embedding's
// bucket, which the comm stream reduced before the all-gather (stream order).
Status GpuTrainer::State::GatherLookup() {
  const int64_t t = shape.tokens_per_rank(), h = shape.hidden;
  Span span;
  LOOM_ASSIGN_OR_RETURN(span.begin, CommAfterCompute());
  LOOM_RETURN_IF_ERROR(comm->AllGather(F<int32_t>(mem.tokens), F<int32_t>(mem.all_tokens), t,
                                       comm::DType::kInt32, &requests.emplace_back()));
  LOOM_RETURN_IF_ERROR(comm->AllGather(F32(mem.d_resid), F32(mem.all_grads), t * h,
                                       comm::DType::kFloat32, &requests.emplace_back()));
  LOOM_ASSIGN_OR_RETURN(span.end, Record(comm_stream));
  comm_spans.push_back(span);
  gather_done = span.end;
  return Status::Ok();
}

// One rank: its own tokens and gradients; several: everyone's, from GatherLookup, averaged as
// the all-reduce averages.
Status GpuTrainer::State::LookupScatter() {
  const int64_t t = shape.tokens_per_rank(), h = shape.hidden;
  float* g_embedding = G(layout.embedding_offset());
  const bool all = world() > 1;
  LOOM_TRAIN_CUDA(cuda::EmbeddingScatterAdd(
      F<int32_t>(all ? mem.all_tokens : mem.tokens), F32(all ? mem.all_grads : mem.d_resid),
      t * world(), h, 1.0f / world(), g_embedding, compute));
  return Status::Ok();
}

Status GpuTrainer::State::HeadBackward() {
  const void* embedding = W(layout.embedding_offset());
  LOOM_RETURN_IF_ERROR(
      Gemm(plan.d_head_input, B16(mem.d_logits), embedding, nullptr, F32(mem.d_resid)));
  return Gemm(plan.d_embedding, B16(mem.d_logits), B16(mem.final_input), nullptr,
              G(layout.embedding_offset()));
}

Status GpuTrainer::State::OptimizerUpdate(int64_t begin, int64_t end) {
  const int64_t n = end - begin;
  if (options.optimizer == Optimizer::kSgd) {
    LOOM_TRAIN_CUDA(cuda::SgdUpdate(F32(mem.master) + begin, G(begin), n, options.learning_rate,
                                    W(begin), compute));
    return Status::Ok();
  }
  const float c1 = 1.0f - std::pow(0.9f, static_cast<float>(adam_step));
  const float c2 = 1.0f - std::pow(0.95f, static_cast<float>(adam_step));
  LOOM_TRAIN_CUDA(cuda::AdamUpdate(F32(mem.master) + begin, G(begin), F32(mem.adam_m) + begin,
                                   F32(mem.adam_v) + begin, n, options.learning_rate, c1, c2,
                                   W(begin), compute));
  return Status::Ok();
}

Status GpuTrainer::State::Execute(const StepOp& op) {
  switch (op.kind) {
    case StepOp::kForward: return Forward();
    case StepOp::kHeadBackward: return HeadBackward();
    case StepOp::kLayerBackward: return BackwardLayer(op.index);
    case StepOp::kLaunchBucket: return LaunchBucket(op.index);
    case StepOp::kGatherLookup: return GatherLookup();
    case StepOp::kWaitGather: return ComputeWaitsFor(gather_done);
    case StepOp::kLookupScatter: return LookupScatter();
    case StepOp::kWaitBucket: return ComputeWaitsFor(bucket_done[op.index]);
    case StepOp::kUpdate:
      return op.index < 0 ? OptimizerUpdate(0, layout.total())
                          : OptimizerUpdate(buckets[op.index].begin, buckets[op.index].end);
  }
  return Internal("train: unknown step op");
}

// Reads the step's events (all complete: the caller synchronized) into its figures.
Status GpuTrainer::State::Account(double wall_s) {
  auto seconds = [&](cudaEvent_t e) -> StatusOr<double> {
    float ms = 0;
    LOOM_TRAIN_CUDA(cudaEventElapsedTime(&ms, step_begin, e));
    return ms / 1e3;
  };
  std::vector<Interval> compute_iv, comm_iv;
  for (auto [spans, out] : {std::pair{&compute_spans, &compute_iv}, std::pair{&comm_spans, &comm_iv}}) {
    for (const Span& sp : *spans) {
      LOOM_ASSIGN_OR_RETURN(const double b, seconds(sp.begin));
      LOOM_ASSIGN_OR_RETURN(const double e, seconds(sp.end));
      out->push_back({b, e});
    }
  }
  const TimelineFigures f = AccountTimeline(std::move(compute_iv), std::move(comm_iv));
  stats.step_s = wall_s;
  stats.compute_s = f.compute_s;
  stats.exposed_comm_s = f.exposed_comm_s;
  stats.comm_span_s = f.comm_span_s;
  return Status::Ok();
}

StatusOr<std::unique_ptr<GpuTrainer>> GpuTrainer::Create(const ModelShape& shape,
                                                         const TrainOptions& options,
                                                         comm::Communicator* comm,
                                                         DeviceStreams* streams) {
  LOOM_RETURN_IF_ERROR(Validate(shape));
  if (options.gemm_backend == gemm::Backend::kCpu) {
    return InvalidArgument("train: the GPU trainer needs the loom or cublas GEMM backend");
  }
  if (options.bucket_bytes < 0) return InvalidArgument("train: bucket_bytes must be >= 0");
  if (streams == nullptr) return InvalidArgument("train: the GPU trainer needs its streams");
  if (comm != nullptr && comm->size() > 1 && comm->memory_kind() != comm::MemoryKind::kCuda) {
    return InvalidArgument("train: the GPU trainer all-reduces device memory: use the nccl backend");
  }
  LOOM_ASSIGN_OR_RETURN(const DeviceInfo device, CurrentDeviceInfo());
  const int world = comm ? comm->size() : 1;
  const bool adam = options.optimizer == Optimizer::kAdam;
  LOOM_RETURN_IF_ERROR(CheckFitsOnDevice(shape, world, adam, device.free_bytes));
  auto state = std::make_unique<State>();
  state->shape = shape;
  state->options = options;
  state->comm = comm;
  state->compute = static_cast<cudaStream_t>(streams->compute_stream());
  state->comm_stream = static_cast<cudaStream_t>(streams->comm_stream());
  state->plan = PlanStepGemms(shape);
  state->layout = LayoutOf(shape);
  state->mem = PlanDeviceMemory(shape, world, adam);
  state->buckets =
      PlanGradBuckets(state->layout, options.bucket_bytes / static_cast<int64_t>(sizeof(float)));
  state->bucket_done.assign(state->buckets.size(), nullptr);
  state->schedule = PlanStepSchedule(state->buckets, shape.layers, world > 1);
  LOOM_RETURN_IF_ERROR(state->Initialize());
  return std::unique_ptr<GpuTrainer>(new GpuTrainer(std::move(state)));
}

GpuTrainer::GpuTrainer(std::unique_ptr<State> state) : s_(std::move(state)) {}
GpuTrainer::~GpuTrainer() = default;
const ModelShape& GpuTrainer::shape() const { return s_->shape; }

StatusOr<StepStats> GpuTrainer::Step() {
  State& s = *s_;
  s.stats = StepStats{};
  s.events.Reset();
  s.compute_spans.clear();
  s.comm_spans.clear();
  s.requests.clear();  // all complete: the last step synchronized
  ++s.adam_step;
  const auto wall0 = Clock::now();
  LOOM_TRAIN_CUDA(cudaEventRecord(s.step_begin, s.compute));
  LOOM_RETURN_IF_ERROR(s.BeginCompute());
  for (const StepOp& op : s.schedule) LOOM_RETURN_IF_ERROR(s.Execute(op));
  LOOM_RETURN_IF_ERROR(s.EndCompute());
  LOOM_TRAIN_CUDA(cudaStreamSynchronize(s.compute));
  LOOM_TRAIN_CUDA(cudaStreamSynchronize(s.comm_stream));
  const double wall_s = std::chrono::duration<double>(Clock::now() - wall0).count();
  LOOM_RETURN_IF_ERROR(s.Account(wall_s));
  return s.stats;
}

StatusOr<std::vector<float>> GpuTrainer::Gradients() const {
  std::vector<float> out(static_cast<size_t>(s_->layout.total()));
  LOOM_TRAIN_CUDA(cudaStreamSynchronize(s_->compute));
  LOOM_TRAIN_CUDA(cudaMemcpy(out.data(), s_->G(0), out.size() * sizeof(float),
                             cudaMemcpyDeviceToHost));
  return out;
}

StatusOr<std::vector<float>> GpuTrainer::MasterWeights() const {
  std::vector<float> out(static_cast<size_t>(s_->layout.total()));
  LOOM_TRAIN_CUDA(cudaStreamSynchronize(s_->compute));
  LOOM_TRAIN_CUDA(cudaMemcpy(out.data(), s_->F32(s_->mem.master), out.size() * sizeof(float),
                             cudaMemcpyDeviceToHost));
  return out;
}

}  // namespace loom::train
