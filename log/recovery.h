// SPDX-License-Identifier: Apache-2.0
// Segment scanning and repair: validate a segment batch by batch, rebuild its index, and say
// exactly what was dropped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "log/base/result.h"
#include "log/base/types.h"
#include "log/index.h"
#include "log/io/file.h"

namespace sluice::log {

// Bytes recovery removed from a segment (a torn or corrupt tail).
struct DroppedRange {
  std::string file;
  uint64_t position = 0;  // First dropped byte.
  uint64_t bytes = 0;     // Up to and including the last non-zero byte after `position`.
  std::string reason;
};

// Stored batches that fail validation but are followed by valid data: corruption, not a torn
// tail. They are kept on disk, never served, and reported; records [first, end) are lost.
struct DamagedRange {
  std::string file;
  uint64_t position = 0;  // First byte of the damaged region.
  uint64_t bytes = 0;     // Up to the next valid batch.
  SequenceNumber first;   // Sequence numbers the region held.
  SequenceNumber end;
  std::string reason;
};

struct RecoveryReport {
  std::vector<DroppedRange> dropped;
  std::vector<DamagedRange> damaged;
  std::vector<std::string> notes;  // Index rebuilds, header repairs, removed temp files.
  uint64_t segments = 0;
  uint64_t scanned_bytes = 0;
  bool clean() const { return dropped.empty(); }
  std::string ToString() const;
};

// The outcome of scanning one segment file.
struct SegmentScan {
  Index index;             // Every valid batch, in order.
  uint64_t valid_end = 0;  // Position after the last valid batch.
  Status stop;             // OK at a clean end; otherwise why scanning stopped (a torn tail).
  std::vector<DamagedRange> damaged;  // Corrupt regions followed by valid batches.
  bool header_damaged = false;  // The segment header failed validation (base taken from name).
  uint64_t file_size = 0;
};

// Scans `file` (the segment whose base is `base`) from its header to the end of its data.
// At an invalid batch it looks for a later valid batch with a higher base offset: if there is
// one, the region between is recorded as damaged and scanning resumes there; if not, scanning
// stops (a torn tail: `stop` says why, `valid_end` is where it starts). Fails only on I/O
// errors; `path` is used in messages.
Result<SegmentScan> ScanSegment(const io::File& file, SegmentId base, const std::string& path = "");

// The position of the first valid batch at or after `from` (and before `end`) whose base
// offset is greater than `min_base`; nullopt when there is none.
Result<std::optional<uint64_t>> FindNextValidBatch(const io::File& file, uint64_t from,
                                                   uint64_t end, SequenceNumber min_base);

// Position after the last non-zero byte of `file` at or after `from` (== from when none).
Result<uint64_t> LastNonZeroEnd(const io::File& file, uint64_t from, uint64_t file_size);

}  // namespace sluice::log
