// Time as loomd's mechanism sees it. Injected so tests (and loom-sim) can drive a virtual clock.
#pragma once

#include <chrono>
#include <cstdint>

namespace loom {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() = 0;  // Unix epoch milliseconds
};

class SystemClock final : public Clock {
 public:
  int64_t NowMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace loom
