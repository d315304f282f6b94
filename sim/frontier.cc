#include "sim/frontier.h"

#include <algorithm>
#include <cmath>

#include "kernels/train/model_shape.h"
#include "sim/simulator.h"

namespace loom::sim {

StatusOr<FrontierRow> Frontier(const sched::ClusterConfig& cluster, const FrontierInputs& in) {
  LOOM_ASSIGN_OR_RETURN(train::ModelShape shape, train::Preset(in.model));
  if (cluster.nodes.empty()) return InvalidArgument(cluster.name + ": no nodes");
  if (in.tokens <= 0 || in.batch_tokens < shape.seq_len) {
    return InvalidArgument("the token budget and the batch (at least one sequence) must be positive");
  }
  const sched::NodeSpec& first = cluster.nodes.front();
  LOOM_ASSIGN_OR_RETURN(GpuPerf gpu, in.perf.Gpu(first.model));
  int nodes_per_leaf = 0;
  for (const sched::NodeSpec& n : cluster.nodes) nodes_per_leaf += n.leaf == first.leaf;

  FrontierRow row;
  row.cluster = cluster.name;
  row.cluster_gpus = cluster.total_gpus();
  const double batch_sequences = std::floor(in.batch_tokens / shape.seq_len);
  const int replica = in.tp * in.pp;
  const int usable = static_cast<int>(cluster.nodes.size() * (1 - in.spare_share)) * first.gpus;
  row.layout = {in.tp, in.pp, std::min(usable / replica, static_cast<int>(batch_sequences)),
                in.perf.virtual_stages};
  if (row.layout.dp < 1) {
    return InvalidArgument(cluster.name + ": fewer GPUs than one TP × PP replica (" + std::to_string(replica) + ")");
  }
  row.gpus = row.layout.gpus();

  StepInputs step;
  step.model = shape;
  step.batch_sequences = batch_sequences;
  step.layout = row.layout;
  step.placement = PackedPlacement(row.layout, first.gpus, nodes_per_leaf);
  step.gpu = gpu;
  step.links = in.perf.links;
  LOOM_ASSIGN_OR_RETURN(row.step, EstimateStep(step));

  const int nodes = row.gpus / first.gpus;
  FailureModel failures = in.failures;
  failures.max_requeues = 1 << 30;  // a frontier run is restarted for as long as it takes
  // Mixed-precision Adam state, 16 bytes a parameter, written at the storage's bandwidth.
  failures.checkpoint_write_s =
      16.0 * static_cast<double>(train::ParameterCount(shape)) / (in.storage_gbytes_per_s * 1e9);
  row.checkpoint_write_s = failures.checkpoint_write_s;
  row.checkpoint_interval_s = failures.IntervalFor(nodes);
  row.interruptions_per_day = nodes * failures.rate_per_node_day;
  const double steps = std::ceil(in.tokens / (batch_sequences * shape.seq_len));
  const double work_s = steps * row.step.step_s;

  SimOptions options;
  options.cluster = cluster;
  options.failures = failures;
  options.perf = in.perf;
  options.seed = in.seed;
  options.sample_interval_s = 86400;
  SimJob job;
  job.id = 1;
  job.name = in.model;
  job.gpus = row.gpus;
  job.gpus_per_node = first.gpus;
  job.duration_s = work_s;
  LOOM_ASSIGN_OR_RETURN(SimResult result,
                        RunSimulation(options, {job}));
  const JobResult& r = result.jobs.front();
  if (r.state != "COMPLETED") {
    return FailedPrecondition(cluster.name + ": the run ended " + r.state + " in the simulation");
  }
  const double wall = r.end_s - r.start_s;
  row.ettr = work_s / wall;
  row.ettr_closed_form = RenewalEttr(nodes, failures.rate_per_node_day / 86400, failures.restart_s + failures.detect_s,
                                     row.checkpoint_interval_s, row.checkpoint_write_s);
  row.days = wall / 86400;
  row.gpu_hours = row.gpus * wall / 3600;
  row.failures = r.attempts - 1;
  return row;
}

}  // namespace loom::sim
