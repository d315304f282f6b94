#include "common/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

namespace loom {

std::string ProgressLine(const std::string& label, int done, int total, const std::string& what, size_t width) {
  std::string line = "[" + std::to_string(done) + "/" + std::to_string(total) + "] " + label;
  if (!what.empty()) line += " " + what;
  if (line.size() > width) line.resize(width);
  return line;
}

Progress::Progress(std::string label, int total, bool wanted)
    : label_(std::move(label)), total_(total), shown_(wanted && isatty(STDERR_FILENO)) {}

void Progress::Done() {
  if (shown_ && done_ > 0 && !cleared_) std::fputs("\r\033[K", stderr);
  cleared_ = true;
}

void Progress::Next(const std::string& what) {
  ++done_;
  if (!shown_ || cleared_) return;
  winsize ws{};
  size_t width = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col - 1 : 79;
  std::fprintf(stderr, "\r\033[K%s", ProgressLine(label_, done_, total_, what, width).c_str());
  std::fflush(stderr);
}

}  // namespace loom
