// Progress of a long sweep (loom-bench gemm, sched) on one line of stderr — "[3/12] gemm
// gpt4096.qkv.fwd" — shown only when stderr is a terminal and the output is not --json, so pipes,
// logs and machine-readable runs stay as they were.
#pragma once

#include <cstddef>
#include <string>

namespace loom {

// The line for step `done` of `total` (1-based), cut to `width` columns.
std::string ProgressLine(const std::string& label, int done, int total, const std::string& what, size_t width);

class Progress {
 public:
  // Shows nothing unless `wanted` and stderr is a terminal.
  Progress(std::string label, int total, bool wanted);
  ~Progress() { Done(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Starts the next step, named `what`.
  void Next(const std::string& what);
  // Clears the line (before the results are printed); later calls do nothing.
  void Done();

 private:
  const std::string label_;
  const int total_;
  const bool shown_;
  int done_ = 0;
  bool cleared_ = false;
};

}  // namespace loom
