// LaunchFence: which Launches a worker may still accept, so that a Launch loomd has given up on
// never starts ranks afterwards (issue 10, "nothing run twice").
//
// A Launch can outlive loomd's interest in it: sent to a worker that is stopped or slow, it may
// be processed seconds later, after loomd stopped the attempt and started the next one
// elsewhere. Three fences close that window:
//  - the registration: loomd stamps each Launch with the node's latest registration nonce; one
//    decided under an earlier registration is refused (that registration's list left it out);
//  - the lease: once the node lease ran out nothing is accepted until the worker registers again
//    (loomd presumes a node's ranks gone at the same moment);
//  - the launch numbers: loomd numbers each node's Launches 1, 2, ... per registration and, in
//    each heartbeat reply, names the highest number it is done with (answered, failed, dropped).
//    A Launch at or below that fence that was not processed yet is refused, and each heartbeat
//    reports the mark: the number up to which every Launch was processed or is refused. An
//    attempt launched at or below the mark that the heartbeat does not list is really not here.
// Pure bookkeeping, no locks: the JobRunner holds it under its mutex with the jobs it runs.
#pragma once

#include <cstdint>
#include <set>

#include "common/status.h"

namespace loom::worker {

class LaunchFence {
 public:
  // A new registration: only launches stamped with it are accepted; numbering starts again.
  void Begin(uint64_t registration);
  // The node lease ran out: nothing is accepted until the next Begin.
  void Drop() { dropped_ = true; }
  bool dropped() const { return dropped_; }

  // Whether a Launch stamped (registration, seq) may start ranks; an admitted one counts as
  // processed for the mark (whatever starting its ranks then gives). seq 0 is not numbered.
  Status Admit(uint64_t registration, uint64_t seq);
  // A Launch processed without Admit (a repeat of an attempt already running here).
  void Note(uint64_t registration, uint64_t seq);
  // loomd is done with every Launch of `registration` numbered up to `fence`.
  void ApplyFence(uint64_t registration, uint64_t fence);

  uint64_t registration() const { return registration_; }
  uint64_t mark() const { return mark_; }

 private:
  void Advance();

  uint64_t registration_ = 0;  // 0 until the first Begin: what an unstamped Launch carries
  bool dropped_ = false;
  uint64_t fence_ = 0;         // loomd's latest fence for this registration
  uint64_t mark_ = 0;          // every number up to here processed or refused
  std::set<uint64_t> above_;   // processed numbers above the mark (they arrive out of order)
};

}  // namespace loom::worker
