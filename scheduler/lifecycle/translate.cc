#include "scheduler/lifecycle/translate.h"

#include <string>

#include "common/gpu_models.h"

namespace loom::lifecycle {

sched::JobRequest RequestFromSpec(const v1::JobSpec& spec) {
  sched::JobRequest r;
  r.gpus = spec.gpus();
  r.gpus_per_node = spec.gpus_per_node();
  r.priority = spec.priority();
  r.time_limit_ms = spec.time_limit_s() * 1000;
  r.tenant = spec.tenant();
  r.qos = spec.qos();
  switch (spec.leaf()) {
    case v1::LEAF_PREFER_ONE: r.leaf = sched::LeafConstraint::kPreferOne; break;
    case v1::LEAF_REQUIRE_ONE: r.leaf = sched::LeafConstraint::kRequireOne; break;
    default: r.leaf = sched::LeafConstraint::kFewest; break;
  }
  r.one_leaf_wait_ms = spec.leaf_wait_s() * 1000;
  return r;
}

StatusOr<sched::JobRequest> RequestOf(const v1::JobSpec& spec) {
  sched::JobRequest r = RequestFromSpec(spec);
  if (r.gpus_per_node <= 0 || r.gpus % r.gpus_per_node != 0) {
    return Internal("stored job spec is not normalised");
  }
  return r;
}

StatusOr<sched::Allocation> AllocationOf(const v1::Job& job, const sched::Cluster& cluster) {
  sched::Allocation allocation;
  const bool exclusive = job.allocation_size() > 1;
  for (const auto& a : job.allocation()) {
    auto index = cluster.Find(a.node());
    if (!index) return NotFound("node " + a.node() + " of job " + std::to_string(job.id()) + " is unknown");
    sched::GpuMask mask = 0;
    for (int g : a.gpu_indices()) {
      if (g < 0 || g >= sched::kMaxGpusPerNode) return Internal("GPU index out of range");
      mask |= sched::GpuMask{1} << g;
    }
    allocation.push_back({*index, mask, exclusive});
  }
  return allocation;
}

void FillAllocation(const sched::Allocation& allocation, const sched::Cluster& cluster, v1::Job& job) {
  job.clear_allocation();
  for (const sched::NodeGrant& g : allocation) {
    auto* a = job.add_allocation();
    a->set_node(cluster.node(g.node).name);
    for (int index : sched::MaskToIndices(g.gpus)) a->add_gpu_indices(index);
  }
}

sched::JobState ToCore(v1::JobState s) {
  switch (s) {
    case v1::PENDING: return sched::JobState::kPending;
    case v1::RUNNING: return sched::JobState::kRunning;
    case v1::COMPLETED: return sched::JobState::kCompleted;
    case v1::CANCELLED: return sched::JobState::kCancelled;
    default: return sched::JobState::kFailed;  // FAILED, NODE_FAIL, TIMEOUT: ended, not by success
  }
}

double PeakFlops(const v1::Gpu& gpu) {
  if (gpu.peak_tflops() > 0) return gpu.peak_tflops() * 1e12;
  const GpuModel* model = FindGpuModel(gpu.model());
  return model ? model->bf16_dense_tflops * 1e12 : 0;
}

}  // namespace loom::lifecycle
