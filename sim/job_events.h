// THE SEAM: what happens to a job when one of its attempts ends — requeue it, or end it and how.
// These few rules are all of the job lifecycle loom-sim needs, and the only place it has them.
// Issue 10's pure lifecycle module (scheduler/lifecycle/) decides the same for loomd; once it is
// on main, an implementation of JobEvents over it replaces RequeueRules below, and the simulator
// gets loomd's exact requeue and end behaviour with no other change.
#pragma once

namespace loom::sim {

// Why an attempt stopped.
enum class AttemptEnd {
  kCompleted,   // its work is done
  kNodeFailed,  // a node it ran on failed (noticed after the detection delay)
  kPreempted,   // a policy chose it as a victim and its grace period is over
  kTimedOut,    // it reached its time limit
};

// What becomes of the job.
enum class JobOutcome { kRequeue, kCompleted, kNodeFail, kTimeout };
const char* JobOutcomeName(JobOutcome outcome);

struct AttemptFacts {
  AttemptEnd why = AttemptEnd::kCompleted;
  int requeues = 0;  // how many times the job was requeued before this attempt ended
};

class JobEvents {
 public:
  virtual ~JobEvents() = default;
  virtual JobOutcome OnAttemptEnded(const AttemptFacts& facts) const = 0;
};

// loomd's rules as of main: infrastructure failures requeue until `max_requeues`, then end the
// job NODE_FAIL; preemption victims always requeue; a time limit ends the job TIMEOUT.
class RequeueRules final : public JobEvents {
 public:
  explicit RequeueRules(int max_requeues) : max_requeues_(max_requeues) {}
  JobOutcome OnAttemptEnded(const AttemptFacts& f) const override {
    switch (f.why) {
      case AttemptEnd::kCompleted: return JobOutcome::kCompleted;
      case AttemptEnd::kTimedOut: return JobOutcome::kTimeout;
      case AttemptEnd::kPreempted: return JobOutcome::kRequeue;
      case AttemptEnd::kNodeFailed:
        return f.requeues < max_requeues_ ? JobOutcome::kRequeue : JobOutcome::kNodeFail;
    }
    return JobOutcome::kNodeFail;
  }

 private:
  int max_requeues_;
};

inline const char* JobOutcomeName(JobOutcome o) {
  switch (o) {
    case JobOutcome::kRequeue: return "REQUEUED";
    case JobOutcome::kCompleted: return "COMPLETED";
    case JobOutcome::kNodeFail: return "NODE_FAIL";
    case JobOutcome::kTimeout: return "TIMEOUT";
  }
  return "?";
}

}  // namespace loom::sim
