// SPDX-License-Identifier: Apache-2.0
// Segment scanning and repair: validate a segment batch by batch, rebuild its index, and say
// exactly what was dropped.
#pragma once

#include <cstdint>
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

struct RecoveryReport {
  std::vector<DroppedRange> dropped;
  std::vector<std::string> notes;  // Index rebuilds, header repairs, removed temp files.
  uint64_t segments = 0;
  uint64_t scanned_bytes = 0;
  bool clean() const { return dropped.empty(); }
  std::string ToString() const;
};

// The outcome of scanning one segment file.
struct SegmentScan {
  Index index;                 // Every valid batch, in order.
  uint64_t valid_end = 0;      // Position after the last valid batch.
  Status stop;                 // OK at a clean end; otherwise why scanning stopped.
  bool header_damaged = false;  // The segment header failed validation (base taken from name).
  uint64_t file_size = 0;
};

// Scans `file` (the segment whose base is `base`) from its header to the end of its data.
// Fails only on I/O errors; damage is described in the result.
Result<SegmentScan> ScanSegment(const io::File& file, SegmentId base);

// Position after the last non-zero byte of `file` at or after `from` (== from when none).
Result<uint64_t> LastNonZeroEnd(const io::File& file, uint64_t from, uint64_t file_size);

}  // namespace sluice::log
