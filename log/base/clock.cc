// SPDX-License-Identifier: Apache-2.0
#include "log/base/clock.h"

namespace sluice {
namespace {
class SystemClock final : public Clock {
 public:
  TimestampMs NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t MonotonicNs() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};
}  // namespace

Clock* Clock::System() {
  static SystemClock* clock = new SystemClock();  // Never destroyed: usable during exit.
  return clock;
}

}  // namespace sluice
