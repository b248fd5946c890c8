// SPDX-License-Identifier: Apache-2.0
// SegmentWriter: appends whole batches to the end of one segment file, with or without
// O_DIRECT, and makes them durable on request.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "log/base/result.h"
#include "log/base/types.h"
#include "log/io/aligned_buffer.h"
#include "log/io/file.h"
#include "log/segment_header.h"

namespace sluice::log {

struct SegmentWriterOptions {
  bool direct = true;              // Try O_DIRECT (falls back to buffered where refused).
  uint64_t preallocate_bytes = 0;  // Allocate the file to this size up front (0: none).
};

// Not thread-safe; callers serialize (the log's append path). With O_DIRECT the writer keeps
// the last partial page in memory and rewrites it with the next append (page-aligned writes,
// zero padding after the data end). The file's size may exceed size() (preallocation or
// padding); bytes past size() are zero.
class SegmentWriter {
 public:
  // Creates a new segment file at `path` with its header, syncs it and its directory.
  static Result<std::unique_ptr<SegmentWriter>> Create(io::FileSystem* fs, const std::string& path,
                                                       SegmentId base, TimestampMs created_ms,
                                                       const SegmentWriterOptions& opts);
  // Opens an existing segment for appending at `end` (the recovered data end); bytes after
  // `end` are zeroed so that they can never be mistaken for data.
  static Result<std::unique_ptr<SegmentWriter>> OpenForAppend(io::FileSystem* fs,
                                                              const std::string& path, uint64_t end,
                                                              const SegmentWriterOptions& opts);
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // Appends `data` (whole batches) at size(); with `sync`, also fdatasyncs (one linked
  // submission on io_uring). On error the data end is unchanged; bytes may have reached the
  // file past it, and the next successful append overwrites them.
  Status Append(std::span<const std::byte> data, bool sync);
  // Zero-copy form of Append: Reserve returns `n` bytes of the writer's (aligned) buffer for
  // the caller to fill with whole batches; Commit writes them as Append would. The span is
  // valid until Commit, the next Reserve or TruncateTo.
  std::span<std::byte> Reserve(size_t n);
  Status Commit(bool sync);
  Status Sync();
  // Writes (and syncs) the segment header at position 0: on creation, and by recovery to
  // repair a damaged header from the file name.
  Status WriteHeader(const SegmentHeader& header);
  // Shrinks the data to `end` (<= size()), zeroes what follows and syncs.
  Status TruncateTo(uint64_t end);
  // Trims preallocated space (file size = size()) and syncs. Append must not follow.
  Status Seal();

  uint64_t size() const { return end_; }
  bool direct() const { return align_ > 1; }
  io::File* file() { return file_.get(); }

 private:
  SegmentWriter(std::unique_ptr<io::File> file, uint64_t end);
  Status LoadTail();
  Status ZeroFrom(uint64_t end);
  Status DiscardFailedWrite(const Status& failure);

  std::unique_ptr<io::File> file_;
  uint64_t end_;
  size_t align_;
  // The bytes of the next write. With O_DIRECT, staging_[0, end_ % align_) holds the partial
  // last page, rewritten with each append.
  io::AlignedBuffer staging_;
  size_t reserved_ = 0;
};

}  // namespace sluice::log
