// SPDX-License-Identifier: Apache-2.0
// SegmentReader: reads the batches of one segment file in order, validating each one. Used by
// reads, recovery, index rebuilds and the sluice-log tool alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "log/base/result.h"
#include "log/io/file.h"
#include "log/record_batch.h"

namespace sluice::log {

// Short-lived and not thread-safe. `*file` must stay open while the reader is in use.
class SegmentReader {
 public:
  // Reads batches starting at file position `start` and never past `end` (exclusive).
  SegmentReader(const io::File* file, uint64_t start, uint64_t end, size_t read_ahead = 1 << 20);

  // The next valid batch, or nullopt at the end of the data: `end` reached or a zero length
  // field (the zero-filled space after the last batch). Errors: Truncated when a batch runs
  // past `end` (a torn tail), Corruption/NotSupported as RecordBatchView::Parse, IOError from
  // the file. After an error, position() is where the bad batch starts. The returned view is
  // valid until the next call.
  Result<std::optional<RecordBatchView>> Next();

  // File position of the batch the next call reads.
  uint64_t position() const { return pos_; }

 private:
  Status Fill(size_t need);

  const io::File* const file_;
  uint64_t pos_;
  const uint64_t end_;
  const size_t read_ahead_;
  std::string buf_;  // Bytes read from the file; buf_start_ is the position of buf_[0].
  uint64_t buf_start_;
  size_t consumed_ = 0;  // Bytes of buf_ already returned.
};

}  // namespace sluice::log
