#include "cli/progress.h"

namespace loom::cli {

bool IsFinal(v1::JobState state) { return state >= v1::COMPLETED; }

std::string StateChange(const v1::Job* before, const v1::Job& now) {
  if (IsFinal(now.state())) return "";
  if (before && before->state() == now.state() && before->reason() == now.reason()) return "";
  std::string line = "Job " + std::to_string(now.id()) + " " + v1::JobState_Name(now.state());
  if (now.state() == v1::RUNNING && now.allocation_size() > 0) {
    std::string nodes;
    for (const auto& a : now.allocation()) nodes += (nodes.empty() ? "" : ",") + a.node();
    line += " on " + nodes;
  }
  if (!now.reason().empty()) line += " (" + now.reason() + ")";
  return line;
}

}  // namespace loom::cli
