// SPDX-License-Identifier: Apache-2.0
// ReplicatedLog: the broker's only handle on one shard's log. Appends are acknowledged per the
// ack policy, reads stop at the visible watermark, epochs fence leaders. See README.md here.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <span>
#include <vector>

#include "log/base/result.h"
#include "log/base/status.h"
#include "log/base/types.h"
#include "log/log.h"

namespace sluice::replication {

using Deadline = std::chrono::steady_clock::time_point;

// Called with the new visible watermark after it advances (see ReplicatedLog::OnVisible).
using VisibleListener = std::function<void(VisibleWatermark)>;

// The answer to OffsetForLeaderEpoch (KIP-101): the largest epoch <= the requested one that
// this replica knows, and the end offset (exclusive) of that epoch's records here.
struct EpochEndOffset {
  Epoch epoch;
  SequenceNumber end_offset;
  friend bool operator==(const EpochEndOffset&, const EpochEndOffset&) = default;
};

// One shard's log as the broker sees it: a log::Log plus an ack policy, epochs and a visible
// watermark. Watermarks satisfy visible <= durable <= written <= next_offset() (as values).
//
// Thread-safety: every method may be called from any thread. Appends from many threads are
// group-committed by the underlying log. Lifetime: all calls must have returned before the
// object is destroyed; Close() wakes WaitForVisible callers so that they can.
//
// Epoch 0 means "no leader elected yet": it is never in the epoch cache, and records written
// in it are those before the cache's first entry.
class ReplicatedLog {
 public:
  virtual ~ReplicatedLog() = default;
  ReplicatedLog() = default;
  ReplicatedLog(const ReplicatedLog&) = delete;
  ReplicatedLog& operator=(const ReplicatedLog&) = delete;

  // --- Writes ------------------------------------------------------------------------------
  // Appends one encoded batch (exactly one; see log::Log::Append), stamped with epoch().
  // Returns once the ack policy acknowledges it; the records become readable only when
  // visible() passes them, which may be later (local log with interval durability). Aborted
  // after Close(); IOError/NoSpace as log::Log::Append.
  virtual Result<log::AppendResult> Append(std::span<const std::byte> batch) = 0;
  // Appends several batches in order as one group commit where the log allows (one
  // acknowledgement wait for all). One result per batch (see log::Log::AppendBatches).
  virtual std::vector<Result<log::AppendResult>> AppendBatches(
      std::span<const std::span<const std::byte>> batches) = 0;
  // Makes everything appended so far durable (and, for a local log, visible).
  virtual Status Sync() = 0;
  // Removes every record after `last_kept` (which must end a batch, or be start() - 1 to empty
  // the log), and epoch-cache entries that start after the new end. Durable on return.
  // Waits for appends in flight and holds off new ones meanwhile.
  virtual Status TruncateAfter(SequenceNumber last_kept) = 0;
  // Deletes whole old segments per the log's retention options; moves start().
  virtual Result<log::RetentionResult> EnforceRetention() = 0;
  // Replaces the retention limits later EnforceRetention calls apply (0: no limit).
  virtual void SetRetention(int64_t retention_ms, uint64_t retention_bytes) = 0;
  // Stops appends, syncs, wakes every WaitForVisible caller. Idempotent. Reads keep working.
  virtual Status Close() = 0;

  // --- Reads -------------------------------------------------------------------------------
  // Whole batches starting with the one that holds `from`, none of them reaching past
  // visible() (nor opts.upto when set). Empty at the visible end. NotFound below start(),
  // InvalidArgument past next_offset(); Corruption/IOError as log::Log::Read.
  virtual Result<log::ReadResult> Read(SequenceNumber from, log::ReadOptions opts) const = 0;
  // The first visible sequence number whose record timestamp is >= ts; visible() when none.
  virtual Result<SequenceNumber> LookupTimestamp(TimestampMs ts) const = 0;

  // --- Watermarks (snapshots; each may move as soon as it is returned) -----------------------
  virtual VisibleWatermark visible() const = 0;    // Readers may see records below it.
  virtual DurableWatermark durable() const = 0;    // fdatasync'd on this replica.
  virtual WrittenWatermark written() const = 0;    // Handed to the kernel on this replica.
  virtual SequenceNumber start() const = 0;        // Trim horizon: the oldest record kept.
  virtual SequenceNumber next_offset() const = 0;  // One past the newest record (LEO).
  virtual size_t segment_count() const = 0;        // Segment files of this replica (metrics).

  // --- Epochs --------------------------------------------------------------------------------
  // The current leader epoch: what Append stamps. Only ever increases (persisted).
  virtual Epoch epoch() const = 0;
  // The first offset of `epoch` in the epoch cache; NotFound when it has no entry (epoch 0,
  // an epoch this replica never saw, or one that ended without records).
  virtual Result<SequenceNumber> EpochStartOffset(Epoch epoch) const = 0;
  // KIP-101: the largest cached epoch <= `epoch` (Epoch 0 when none) and its end offset: the
  // start of the next cached epoch, or next_offset() for the latest one. A follower truncates
  // to min(end_offset, its own end for that epoch).
  virtual EpochEndOffset OffsetForLeaderEpoch(Epoch epoch) const = 0;

  // --- Waiting for new records (tailing readers) ----------------------------------------------
  // Blocks until record `from` is visible (visible() > from: a Read(from) would return it),
  // until `deadline`, or until Close(). Returns the visible watermark when it woke, which is
  // <= from on timeout; Aborted once closed. For a thread per long-poll / subscription.
  virtual Result<VisibleWatermark> WaitForVisible(SequenceNumber from, Deadline deadline) = 0;
  // For a reactor: sets the one listener called after each advance of visible() (replacing
  // the previous one; pass nullptr to clear). It runs on the thread that advanced the
  // watermark (an appender, a Sync caller or a background thread) with no lock of this log
  // held, so it may call the read-side methods, but it must not block: post to an event loop
  // and read there. Calls may overlap and arrive out of order: keep the maximum. An old
  // listener may still be running when this returns. Not called on Close().
  virtual void OnVisible(VisibleListener listener) = 0;
};

}  // namespace sluice::replication
