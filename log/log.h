// SPDX-License-Identifier: Apache-2.0
// Log: one shard's append-only log of record batches in a directory of segments.
// Open (with recovery), Append (group commit), Sync, Read, Roll, TruncateAfter, retention.
// See README.md beside this file for segments, watermarks and recovery.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "log/base/result.h"
#include "log/base/thread_annotations.h"
#include "log/base/types.h"
#include "log/index.h"
#include "log/io/file.h"
#include "log/log_options.h"
#include "log/record_batch.h"
#include "log/recovery.h"
#include "log/segment.h"
#include "log/segment_writer.h"

namespace sluice::log {

struct AppendResult {
  SequenceNumber base;  // Sequence number given to the batch's first record.
  SequenceNumber last;  // ... and to its last.
};

struct ReadOptions {
  size_t max_bytes = 1 << 20;  // Stop after this many bytes; at least one batch is returned.
  // Exclusive end: only batches whose records are all below it. Default: the durable
  // watermark (what a local log makes visible).
  std::optional<SequenceNumber> upto;
};

// Whole validated batches, exactly as stored, back to back.
struct ReadResult {
  std::string bytes;
  size_t batch_count = 0;
  SequenceNumber next;  // Where the following read should start.
  // Views of the batches in `bytes` (valid while `bytes` is unchanged).
  std::vector<RecordBatchView> Batches() const;
};

struct RetentionResult {
  size_t segments_deleted = 0;
  uint64_t bytes_deleted = 0;
  SequenceNumber start;  // The trim horizon after enforcement.
};

struct LogStats {
  uint64_t appends = 0;        // Batches appended.
  uint64_t group_commits = 0;  // Writes issued for them.
  uint64_t syncs = 0;          // fdatasyncs issued.
  uint64_t bytes = 0;          // Batch bytes appended.
  uint64_t rolls = 0;
};

// Thread-safe. Appends from many threads are coalesced: one thread (the group leader) writes
// every waiting batch in one write and, per the durability policy, one fdatasync, then wakes
// the others. Reads run concurrently with appends and with each other, against an owned read
// plan (shared segment handles), never holding the log's mutex during I/O.
class Log {
 public:
  // Opens or creates the log in `dir`, recovering the tail segment (see recovery_report()).
  // `*fs` must outlive the log.
  static Result<std::unique_ptr<Log>> Open(io::FileSystem* fs, const std::string& dir,
                                           LogOptions options);
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Appends one encoded batch (exactly one; its checksum is verified). The log assigns the
  // base offset, stamps `epoch` and, with log_append_time, the timestamps, and compresses when
  // configured. Returns once acknowledged per the durability policy. NoSpace is retriable;
  // after a failed fdatasync the log refuses further appends (IOError) until reopened,
  // because the kernel may have dropped the unsynced pages.
  Result<AppendResult> Append(std::span<const std::byte> batch, Epoch epoch = Epoch());
  // Appends several batches from one thread as if each came from its own thread at once: they
  // queue together, so they share one group commit (one write, one fdatasync) unless
  // max_group_bytes splits them. Offsets follow `batches` order. One result per batch: a batch
  // that fails validation fails alone; once a write fails, it and every later batch of the call
  // fail (Aborted for those never written), so the appended ones are a prefix of the valid ones.
  std::vector<Result<AppendResult>> AppendBatches(
      std::span<const std::span<const std::byte>> batches, Epoch epoch = Epoch());
  // Makes everything written so far durable.
  Status Sync();
  // Seals the active segment and starts a new one (a no-op when the active one is empty).
  Status Roll();
  // Removes every record after `last_kept` (replication's divergence repair). `last_kept`
  // must end a batch, or be start() - 1 to empty the log; InvalidArgument when it falls inside
  // a batch. Durable on return.
  Status TruncateAfter(SequenceNumber last_kept);
  // Deletes whole sealed segments per retention_ms / retention_bytes; moves start().
  Result<RetentionResult> EnforceRetention();
  // Replaces LogOptions::retention_ms / retention_bytes for later EnforceRetention calls
  // (0: no limit). Thread-safe.
  void SetRetention(int64_t retention_ms, uint64_t retention_bytes);
  // Syncs, writes the active segment's index as clean and stops accepting appends.
  Status Close();

  // Reads whole batches starting with the one that contains `from`. Empty at the end.
  // NotFound when `from` is below start() (trimmed); InvalidArgument past next_offset().
  // Corruption or IOError naming the file and position when a stored batch fails validation
  // or cannot be read — unless batches before it were already gathered, which are returned.
  Result<ReadResult> Read(SequenceNumber from, ReadOptions opts = {}) const;
  // The first sequence number (in log order, up to the written watermark) whose record
  // timestamp is >= ts; next_offset() when none. O(log n) segment opens with log_append_time
  // (stamps are monotonic), O(n) summaries otherwise (producer times may go backwards).
  Result<SequenceNumber> LookupTimestamp(TimestampMs ts) const;

  SequenceNumber start() const;        // Trim horizon: the oldest sequence number kept.
  SequenceNumber next_offset() const;  // One past the newest written record.
  WrittenWatermark written() const;
  DurableWatermark durable() const;
  size_t segment_count() const;
  LogStats stats() const;
  const RecoveryReport& recovery_report() const { return report_; }
  const std::string& dir() const { return dir_; }
  // True when writes use O_DIRECT (the file system allowed it).
  bool direct_io() const;

 private:
  struct Writer;
  struct Group;
  Log(io::FileSystem* fs, std::string dir, LogOptions options);

  Status Recover();
  Status OpenActive(const std::shared_ptr<Segment>& seg, uint64_t end, Index index) REQUIRES(mu_);
  void Note(std::string_view line) const;

  // Append path (log_append.cc).
  Result<AppendResult> Enqueue(Writer* w) EXCLUDES(mu_);
  // Waits for `w` (already queued) to be done, leading its group when it reaches the front.
  Result<AppendResult> Await(Writer* w) REQUIRES(mu_);
  // Validates one batch for Append; compresses it into `*compressed` when configured.
  Result<std::span<const std::byte>> PrepareBatch(std::span<const std::byte> batch,
                                                  std::string* compressed) const;
  // Runs `fn` with mu_ held once every earlier append has finished, excluding later ones.
  Status RunExclusive(const std::function<Status()>& fn) EXCLUDES(mu_);
  void BuildGroup(Group* g) REQUIRES(mu_);
  Status WriteGroup(Group* g) EXCLUDES(mu_);
  Status SealActive(bool* rolled) REQUIRES(mu_);
  void FlusherLoop();

  // Maintenance (log_maintenance.cc).
  Status TruncateLocked(SequenceNumber new_next) REQUIRES(mu_);
  Status DeleteSegmentFiles(const std::shared_ptr<Segment>& seg);

  io::FileSystem* const fs_;
  const std::string dir_;
  const LogOptions opts_;
  std::atomic<int64_t> retention_ms_;      // opts_.retention_ms until SetRetention.
  std::atomic<uint64_t> retention_bytes_;  // opts_.retention_bytes until SetRetention.
  RecoveryReport report_;
  mutable SegmentCache cache_;

  mutable Mutex mu_;
  // Ordered by base; back() is the active segment.
  std::deque<std::shared_ptr<Segment>> segments_ GUARDED_BY(mu_);
  std::unique_ptr<SegmentWriter> writer_ GUARDED_BY(mu_);  // Used only by the group leader.
  std::shared_ptr<io::File> active_reader_ GUARDED_BY(mu_);
  std::unique_ptr<Index> active_index_ GUARDED_BY(mu_);
  TimestampMs active_created_ms_ GUARDED_BY(mu_) = 0;
  TimestampMs last_stamp_ GUARDED_BY(mu_) = INT64_MIN;  // Newest append-time stamp given.
  std::deque<Writer*> writers_ GUARDED_BY(mu_);         // front() is the leader.
  SequenceNumber next_ GUARDED_BY(mu_);
  uint64_t written_ GUARDED_BY(mu_) = 0;
  uint64_t durable_ GUARDED_BY(mu_) = 0;
  int64_t last_sync_ns_ GUARDED_BY(mu_) = 0;
  Status sticky_error_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
  LogStats stats_ GUARDED_BY(mu_);
  Mutex maintenance_mu_;  // Serializes retention with truncation.

  std::thread flusher_;  // Only for Durability::kInterval.
  std::mutex flusher_mu_;
  std::condition_variable flusher_cv_;
  bool stop_flusher_ = false;  // Guarded by flusher_mu_.
};

}  // namespace sluice::log
