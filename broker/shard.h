// SPDX-License-Identifier: Apache-2.0
// Shard: one Kinesis shard as the broker serves it: its replicated log, how records are packed
// into batches (partition key = record key, data = record value) and read back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/sequence_number.h"
#include "broker/stream_metadata.h"
#include "log/base/result.h"
#include "log/base/status.h"
#include "log/base/types.h"
#include "log/io/file.h"
#include "replication/local_log.h"

namespace sluice::broker {

// A record to append: borrowed for the duration of Shard::Append.
struct ShardRecord {
  std::string_view partition_key;
  std::string_view data;
};

// A record read back. Owns its bytes.
struct ShardReadRecord {
  SequenceNumber offset;
  TimestampMs arrival_ms = 0;  // ApproximateArrivalTimestamp: the append time.
  std::string partition_key;
  std::string data;
};

struct ShardReadResult {
  std::vector<ShardReadRecord> records;
  SequenceNumber next;    // Where the following read starts.
  SequenceNumber end;     // The visible end of the shard when the read finished.
  size_t data_bytes = 0;  // Sum of data + partition key sizes of `records`.
};

// Upper bound on one appended batch: records of one PutRecords beyond it go into further
// batches (still in request order). Well under the format's u32 length and max_group_bytes'
// spirit, and above the largest single record (10 MiB + key).
inline constexpr size_t kMaxShardBatchBytes = 16u << 20;

// One shard of one stream. Owns its log (a LocalLog today; a replicated one later).
//
// Thread-safety: every method may be called from any thread (the log is thread-safe and the
// rest is immutable). Records appended by one Append call get consecutive offsets when they
// fit one batch. The future shard-per-core engine owns a Shard on its core; nothing here
// assumes a particular thread.
class Shard {
 public:
  // Opens or creates the shard log in `dir`. `*fs` must outlive the shard.
  static Result<std::unique_ptr<Shard>> Open(log::io::FileSystem* fs, const std::string& dir,
                                             const ShardMetadata& meta,
                                             replication::LocalLogOptions options);
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  ~Shard();

  ShardId id() const { return id_; }
  ShardGeneration generation() const { return generation_; }
  const std::string& dir() const { return dir_; }

  // The 56-digit sequence number of `offset` in this shard.
  std::string SequenceNumberOf(SequenceNumber offset) const;

  // Appends `records` (non-empty) in order, in as few batches as kMaxShardBatchBytes allows.
  // Returns the offset of each record, in order. Aborted after Close(). If a later batch fails,
  // the earlier ones stay appended though the call fails (at-least-once, as Kinesis retries).
  Result<std::vector<SequenceNumber>> Append(const std::vector<ShardRecord>& records);

  // Appends client-built batches (each validated by the log; offsets and append time are
  // assigned there) in order as one group commit. One result per batch.
  std::vector<Result<log::AppendResult>> AppendBatches(
      std::span<const std::span<const std::byte>> batches) {
    return log_->AppendBatches(batches);
  }
  // The shard's log: the engine reads raw batches, waits for visibility and rebuilds producer
  // state through it.
  replication::ReplicatedLog& log() const { return *log_; }

  // Reads visible records from `from` on (clamped up to start(): trimmed records are gone),
  // at most `limit` records and about `max_bytes` of data + key (always at least one record
  // when any is visible, so a reader never stalls).
  Result<ShardReadResult> Read(SequenceNumber from, size_t limit, size_t max_bytes) const;

  // First offset whose arrival time is >= ts; the visible end when none.
  Result<SequenceNumber> LookupTimestamp(TimestampMs ts) const;

  SequenceNumber start() const { return log_->start(); }
  SequenceNumber next_offset() const { return log_->next_offset(); }
  SequenceNumber visible_end() const { return SequenceNumber(log_->visible().value()); }

  Result<log::RetentionResult> EnforceRetention() { return log_->EnforceRetention(); }
  // Idempotent. Reads keep working; appends fail with Aborted.
  Status Close() { return log_->Close(); }
  // Ends the shard's writes for resharding: Close()s (no append in flight or accepted after;
  // everything written is synced, hence visible) and returns next_offset(), the exclusive end
  // that ShardMetadata::ending_offset records.
  Result<SequenceNumber> Seal();

 private:
  Shard(std::string dir, const ShardMetadata& meta, std::unique_ptr<replication::LocalLog> log);

  const std::string dir_;
  const ShardId id_;
  const ShardGeneration generation_;
  const std::unique_ptr<replication::LocalLog> log_;
};

}  // namespace sluice::broker
