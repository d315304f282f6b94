#include "worker/launch_fence.h"

#include <algorithm>
#include <string>

namespace loom::worker {

void LaunchFence::Begin(uint64_t registration) {
  registration_ = registration;
  dropped_ = false;
  fence_ = mark_ = 0;
  above_.clear();
}

Status LaunchFence::Admit(uint64_t registration, uint64_t seq) {
  if (dropped_) {
    return FailedPrecondition("this node's lease ran out: it takes no launch until it has registered again");
  }
  if (registration != registration_) {
    // Decided before loomd saw this node's latest registration, which did not list it: loomd
    // has already taken the attempt for gone, and may have given its GPUs to another job.
    return FailedPrecondition("launch decided under an earlier registration of this node");
  }
  if (seq != 0 && seq <= fence_) {
    return FailedPrecondition("launch " + std::to_string(seq) + " arrived after loomd stopped waiting for it");
  }
  Note(registration, seq);
  return Status::Ok();
}

void LaunchFence::Note(uint64_t registration, uint64_t seq) {
  if (registration != registration_ || seq <= mark_) return;
  above_.insert(seq);
  Advance();
}

void LaunchFence::ApplyFence(uint64_t registration, uint64_t fence) {
  if (registration != registration_ || fence <= fence_) return;
  fence_ = fence;
  mark_ = std::max(mark_, fence_);
  Advance();
}

void LaunchFence::Advance() {
  while (!above_.empty() && *above_.begin() <= mark_ + 1) {
    mark_ = std::max(mark_, *above_.begin());
    above_.erase(above_.begin());
  }
}

}  // namespace loom::worker
