// How a job's processes (tasks) sit on its nodes: one per GPU (the default) or tasks_per_node per
// node, each seeing an equal share of its node's GPUs (Slurm's --ntasks-per-node; 1 is launcher
// mode: one torchrun per node). Pure arithmetic, shared by loomd (submit checks, log routing),
// the worker (what it starts, which GPUs each task sees) and the CLI (`loom show`).
#pragma once

#include <string>

#include "common/status.h"

namespace loom {

struct TaskLayout {
  int nodes = 0;
  int gpus_per_node = 0;
  int tasks_per_node = 0;  // resolved: equals gpus_per_node in the default mode

  int tasks() const { return nodes * tasks_per_node; }
  int gpus_per_task() const { return tasks_per_node > 0 ? gpus_per_node / tasks_per_node : 0; }
  int NodeOfTask(int task) const { return tasks_per_node > 0 ? task / tasks_per_node : 0; }
  // One task per GPU: each sees all of its node's GPUs and picks its own by LOCAL_RANK, as
  // torch.distributed programs started once per GPU expect.
  bool one_per_gpu() const { return tasks_per_node == gpus_per_node; }
};

// `requested` is the spec's tasks_per_node (0: one per GPU). Assumes CheckTaskLayout passed.
inline TaskLayout LayoutOf(int nodes, int gpus_per_node, int requested) {
  return {nodes, gpus_per_node, requested > 0 ? requested : gpus_per_node};
}

// Whether `requested` tasks per node can share `gpus_per_node` GPUs evenly.
inline Status CheckTaskLayout(int gpus_per_node, int requested) {
  if (requested < 0) return InvalidArgument("tasks per node must not be negative");
  if (requested == 0) return Status::Ok();
  if (gpus_per_node > 0 && (requested > gpus_per_node || gpus_per_node % requested != 0)) {
    return InvalidArgument("--tasks-per-node " + std::to_string(requested) + " must divide the " +
                           std::to_string(gpus_per_node) + " GPUs per node");
  }
  return Status::Ok();
}

}  // namespace loom
