// SPDX-License-Identifier: Apache-2.0
// LocalLog: the single-node ReplicatedLog over one log::Log in a shard directory, with a
// persisted epoch cache (the `epochs` file beside the segments; format in local_log.cc).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "log/base/thread_annotations.h"
#include "log/io/file.h"
#include "log/log.h"
#include "log/log_options.h"
#include "replication/replicated_log.h"

namespace sluice::replication {

struct LocalLogOptions {
  log::LogOptions log;  // Durability, segments, retention, clock, logger of the shard log.
};

// One entry of the epoch cache: `epoch` led from `start` on (until the next entry's start).
struct EpochEntry {
  Epoch epoch;
  SequenceNumber start;
  friend bool operator==(const EpochEntry&, const EpochEntry&) = default;
};

// The single-node implementation: this node is always the leader, its ack policy is the log's
// durability, and visible == durable. With Durability::kNever the log counts written as
// durable, so records are visible once written; with kInterval they become visible when the
// log syncs (at least every interval, or on Sync()). The log announces every durability
// advance, background syncs included (LogOptions::on_durable), and that wakes waiters and the
// listener at once: no thread per shard.
//
// Thread-safe (see ReplicatedLog). Append, BecomeLeader and TruncateAfter exclude each other
// through a gate: appends run concurrently with each other; the other two wait for appends in
// flight and hold off new ones, so every batch carries the epoch in force at its offset.
class LocalLog final : public ReplicatedLog {
 public:
  // Opens or creates the shard log in `dir` and its epoch cache. A fresh (empty) shard gets an
  // empty `epochs` file; a missing file beside records, or a damaged one, is Corruption
  // naming the file: it is never silently replaced. Cache entries past the log's end (a crash
  // between truncating the log and rewriting the file) are dropped. `*fs` must outlive the
  // returned log.
  static Result<std::unique_ptr<LocalLog>> Open(log::io::FileSystem* fs, const std::string& dir,
                                                LocalLogOptions options);
  ~LocalLog() override;  // Close()s.

  // Starts epoch `epoch` at next_offset(): records (epoch, next_offset()) in the cache and
  // persists it before returning; later appends carry `epoch`. InvalidArgument unless
  // epoch > epoch(). Cache entries of earlier epochs that hold no records are dropped.
  Status BecomeLeader(Epoch epoch);
  // The epoch cache, oldest first (a snapshot; for tests and tools).
  std::vector<EpochEntry> epoch_cache() const;

  Result<log::AppendResult> Append(std::span<const std::byte> batch) override;
  std::vector<Result<log::AppendResult>> AppendBatches(
      std::span<const std::span<const std::byte>> batches) override;
  Status Sync() override;
  // After the log is cut, the current epoch, if its entry went, restarts at the new end.
  Status TruncateAfter(SequenceNumber last_kept) override;
  Result<log::RetentionResult> EnforceRetention() override;
  void SetRetention(int64_t retention_ms, uint64_t retention_bytes) override {
    log_->SetRetention(retention_ms, retention_bytes);
  }
  Status Close() override;

  Result<log::ReadResult> Read(SequenceNumber from, log::ReadOptions opts) const override;
  Result<SequenceNumber> LookupTimestamp(TimestampMs ts) const override;

  VisibleWatermark visible() const override;
  DurableWatermark durable() const override;
  WrittenWatermark written() const override;
  SequenceNumber start() const override;
  SequenceNumber next_offset() const override;
  size_t segment_count() const override { return log_->segment_count(); }

  Epoch epoch() const override;
  Result<SequenceNumber> EpochStartOffset(Epoch epoch) const override;
  EpochEndOffset OffsetForLeaderEpoch(Epoch epoch) const override;

  Result<VisibleWatermark> WaitForVisible(SequenceNumber from, Deadline deadline) override;
  void OnVisible(VisibleListener listener) override;

  // The path of the epoch cache file of the shard in `dir`.
  static std::string EpochsFileName(const std::string& dir);

 private:
  LocalLog(log::io::FileSystem* fs, std::string dir, LocalLogOptions options,
           std::unique_ptr<log::Log> log, Epoch epoch, std::vector<EpochEntry> cache);

  // Runs `fn` with no append in flight and new ones held off; Aborted once closed.
  Status Exclusive(const std::function<Status()>& fn) EXCLUDES(mu_);
  // Persists (known epoch, cache) atomically, then installs them in memory.
  Status Commit(Epoch epoch, std::vector<EpochEntry> cache) EXCLUDES(mu_);
  // Wakes waiters and calls the listener when visible() moved past what was published.
  void PublishVisible() EXCLUDES(mu_);
  // The append gate: waits out BecomeLeader/TruncateAfter; Aborted once closed.
  Result<Epoch> EnterAppend() EXCLUDES(mu_);
  void LeaveAppend() EXCLUDES(mu_);
  // Waits on `*cv` until notified or `deadline` (spurious wake-ups possible). The analysis
  // cannot see that the std::unique_lock inside adopts mu_, hence its opt-out.
  void WaitUntil(std::condition_variable* cv, Deadline deadline)
      REQUIRES(mu_) NO_THREAD_SAFETY_ANALYSIS;

  log::io::FileSystem* const fs_;
  const std::string dir_;
  const LocalLogOptions opts_;
  const std::unique_ptr<log::Log> log_;

  mutable Mutex mu_;
  Epoch epoch_ GUARDED_BY(mu_);                    // The known epoch (persisted seal).
  std::vector<EpochEntry> cache_ GUARDED_BY(mu_);  // Strictly increasing epochs and starts.
  int appends_in_flight_ GUARDED_BY(mu_) = 0;
  bool changing_ GUARDED_BY(mu_) = false;  // An Exclusive() section runs or waits to.
  bool closed_ GUARDED_BY(mu_) = false;
  uint64_t published_ GUARDED_BY(mu_) = 0;  // Visible watermark last announced.
  std::shared_ptr<const VisibleListener> listener_ GUARDED_BY(mu_);
  CondVar gate_cv_{&mu_};               // appends_in_flight_ and changing_ changed.
  std::condition_variable visible_cv_;  // published_ or closed_ changed (with mu_).
};

}  // namespace sluice::replication
