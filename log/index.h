// SPDX-License-Identifier: Apache-2.0
// Index: the sparse offset and timestamp index of one segment, kept in memory and stored in the
// segment's .index file when the segment is sealed or cleanly closed (layout in format.h).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "log/base/result.h"
#include "log/base/types.h"
#include "log/format.h"

namespace sluice::log {

struct IndexEntry {
  uint32_t relative_offset = 0;   // Batch base offset minus segment base.
  uint32_t position = 0;          // File position of that batch.
  TimestampMs max_timestamp = 0;  // Largest record timestamp in batches up to this one.
};

// Not thread-safe: the active segment's index is changed under the log's append path and read
// under the log's mutex; a sealed segment's index is immutable once built.
class Index {
 public:
  explicit Index(SegmentId base) : base_(base) {}

  // Records a batch appended at `position` (a batch must be added in file order). Adds an
  // entry for the first batch, whenever kIndexIntervalBytes have passed since the last, and
  // when `force` is set (the first batch after a damaged region, so lookups skip the damage).
  void Add(SequenceNumber batch_base, SequenceNumber batch_next, uint64_t position,
           uint64_t batch_bytes, TimestampMs batch_max_ts, bool force = false);

  // File position to start scanning for `offset`: the last indexed batch whose base is at most
  // `offset` (the data start when none). O(log n).
  uint64_t LookupOffset(SequenceNumber offset) const;
  // File position to start scanning for the first record with timestamp >= `ts`. O(log n).
  uint64_t LookupTimestamp(TimestampMs ts) const;

  // Drops everything at or after file position `end` (after a truncation). `next` and
  // `max_timestamp` must be recomputed by the caller via Reset* when batches were dropped.
  void TruncateAt(uint64_t end, SequenceNumber next, TimestampMs max_ts);

  SegmentId base() const { return base_; }
  // One past the last record added; equals base() when empty.
  SequenceNumber next_offset() const { return next_; }
  // Data end (file position after the last batch).
  uint64_t data_end() const { return data_end_; }
  TimestampMs max_timestamp() const { return max_ts_; }
  bool empty() const { return next_.value() == base_.value(); }
  const std::vector<IndexEntry>& entries() const { return entries_; }

  // The .index file image; `clean` marks a segment whose data was synced up to data_end().
  std::string Encode(bool clean) const;
  // Parses an .index file image for the segment at `base`. Corruption on any mismatch (magic,
  // version, entry size, base, checksum, entries out of order or past segment_bytes).
  static Result<Index> Decode(std::span<const std::byte> bytes, SegmentId base, bool* clean);

 private:
  SegmentId base_;
  SequenceNumber next_{base_.value()};
  uint64_t data_end_ = format::kSegmentHeaderSize;
  TimestampMs max_ts_ = INT64_MIN;
  uint64_t last_entry_pos_ = 0;
  std::vector<IndexEntry> entries_;
};

}  // namespace sluice::log
