// SPDX-License-Identifier: Apache-2.0
// Options of one shard log, and the durability policy.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "log/base/clock.h"
#include "log/base/result.h"
#include "log/base/types.h"
#include "log/format.h"

namespace sluice::log {

// When an append is acknowledged.
struct Durability {
  enum class Mode { kAlways, kInterval, kNever };
  Mode mode = Mode::kAlways;  // kAlways: after fdatasync (the default).
  int64_t interval_ms = 0;    // kInterval: after the write; synced at least this often.

  static Durability Always() { return {}; }
  static Durability Never() { return {Mode::kNever, 0}; }
  static Durability Interval(int64_t ms) { return {Mode::kInterval, ms}; }
  // Parses "always", "never" or "interval:<ms>" (ms >= 1).
  static Result<Durability> Parse(std::string_view text);
  std::string ToString() const;
};

struct GroupCommitInfo {
  size_t batches = 0;
  uint64_t bytes = 0;
  int64_t sync_ns = 0;  // 0 when the group was written without fdatasync.
};

struct LogOptions {
  Durability durability;
  // Roll to a new segment when the active one would exceed this many bytes (< 4 GiB) or is
  // older than roll_ms (0: never by age).
  uint64_t segment_bytes = 128ull << 20;
  int64_t roll_ms = 0;
  // Preallocate each new segment to segment_bytes so that fdatasync need not update its size.
  bool preallocate = true;
  // Write with O_DIRECT where the file system allows it (measured faster here: bench/RESULTS.md).
  bool direct_io = true;
  // Retention: delete whole sealed segments whose newest record is older than retention_ms
  // (0: keep forever), and the oldest sealed segments while the log exceeds retention_bytes
  // (0: no limit). The active segment is never deleted.
  int64_t retention_ms = 0;
  uint64_t retention_bytes = 0;
  // Compress each appended batch's records with Zstandard at this level (kNone: store as
  // given).
  format::Codec compression = format::Codec::kNone;
  int zstd_level = 3;
  // Stamp records with the append time instead of the producer's time (never decreasing).
  bool log_append_time = false;
  // At most this many sealed segments keep an open file and loaded index (LRU).
  size_t open_segment_cache = 256;
  // A group commit gathers waiting appends up to this many bytes into one write.
  size_t max_group_bytes = 8 << 20;
  Clock* clock = Clock::System();
  // Called after the durable watermark advances (a group commit's fdatasync, a background sync
  // under kInterval, every write under kNever), on the thread that advanced it, with no lock of
  // the log held. Calls may overlap and arrive out of order (keep the maximum); it must not
  // block for long. Replication uses it to make records visible without polling.
  std::function<void(DurableWatermark)> on_durable;
  // Called by the group leader after each group commit it wrote, without the log's lock: how
  // many batches and bytes the group held and how long its fdatasync took (0 when the group
  // was not synced). For metrics; must be cheap and thread-safe.
  std::function<void(const GroupCommitInfo&)> on_group_commit;
  // One line per notable event (recovery drops, index rebuilds). Default: stderr.
  std::function<void(std::string_view)> logger;
};

}  // namespace sluice::log
