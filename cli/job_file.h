// Job files: a YAML description of a job, the file form of `loom submit`'s flags.
//
//   name: pretrain            # default: the program's name
//   tenant: research          # default: $USER
//   gpus: 16
//   gpus_per_node: 8          # default: one node if it fits, else whole nodes
//   time: 2h                  # minutes, HH:MM:SS, D-HH:MM:SS or 2h/30m/90s
//   priority: 10
//   qos: 1                    # higher QoS is ordered first and may preempt lower QoS
//   leaf: prefer-one          # fewest (default) | prefer-one | require-one leaf switch
//   leaf_wait: 10m            # with prefer-one: how long to wait for a single leaf
//   mpi: false
//   command: [python, train.py, --steps, "100"]   # or one string, run by /bin/sh -c
//   env: {NCCL_DEBUG: INFO}
//   workdir: /data/run1
//   signal: USR1@120          # sent to every rank 120 s before the time limit (checkpoint now)
//   grace: 2m                 # SIGTERM to SIGKILL on preemption, drain --requeue, cancel
//   max_requeues: 3           # requeues on infrastructure failure (default: loomd's, 5)
//   no_requeue: false         # true: an infrastructure failure ends the job NODE_FAIL
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "loom/v1/loom.pb.h"

namespace loom::cli {

// Parses a job file's text; `source` names it in error messages. Unknown fields, wrong types and
// malformed YAML are INVALID_ARGUMENT with the line.
StatusOr<v1::JobSpec> ParseJobFile(const std::string& text, const std::string& source);
StatusOr<v1::JobSpec> LoadJobFile(const std::string& path);

// "fewest", "prefer-one" or "require-one", as `--leaf` and a job file's `leaf` take them.
std::optional<v1::LeafPolicy> ParseLeafPolicy(const std::string& text);

// `--signal SIG@SECONDS` (Slurm's --signal=USR1@120): SIG is a name (USR1, SIGUSR1) or a number,
// SECONDS a positive count of seconds (or 2m, 90s). Sets spec.signal and spec.signal_before_s.
Status ParseSignalSpec(const std::string& text, v1::JobSpec& spec);
// `--grace` (2m, 30s, plain seconds): sets spec.grace_s; negative or malformed is an error.
Status ParseGrace(const std::string& text, v1::JobSpec& spec);
// max_requeues must not be negative.
Status CheckRequeue(const v1::JobSpec& spec);

}  // namespace loom::cli
