// SPDX-License-Identifier: Apache-2.0
// Clock: wall and monotonic time behind an interface so that tests can drive time by hand.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "log/base/types.h"

namespace sluice {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the Unix epoch (record timestamps, retention by age).
  virtual TimestampMs NowMs() const = 0;
  // Monotonic nanoseconds (intervals, timeouts); unrelated to NowMs.
  virtual int64_t MonotonicNs() const = 0;

  // The process-wide system clock; never null, never destroyed.
  static Clock* System();
};

// A clock that moves only when told. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimestampMs now_ms = 1'700'000'000'000) : now_ms_(now_ms) {}
  TimestampMs NowMs() const override { return now_ms_.load(); }
  int64_t MonotonicNs() const override { return mono_ns_.load(); }
  void AdvanceMs(int64_t ms) {
    now_ms_ += ms;
    mono_ns_ += ms * 1'000'000;
  }
  void SetNowMs(TimestampMs ms) { now_ms_ = ms; }

 private:
  std::atomic<TimestampMs> now_ms_;
  std::atomic<int64_t> mono_ns_{0};
};

}  // namespace sluice
