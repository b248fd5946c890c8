// SPDX-License-Identifier: Apache-2.0
// Domain numbers shared by every layer. The log knows offsets and file positions; stream and
// shard vocabulary belongs to the broker but the ids live here, at the bottom of the stack.
#pragma once

#include <cstdint>

#include "log/base/strong_id.h"

namespace sluice {

// The position of a record in one shard's log: dense, strictly increasing, starting at 0.
// (The broker renders it as a Kinesis-style decimal sequence number.)
using SequenceNumber = StrongId<struct SequenceNumberTag, uint64_t>;
// A byte position inside one segment file.
using FilePosition = StrongId<struct FilePositionTag, uint64_t>;
// A segment is named by the sequence number of its first record.
using SegmentId = StrongId<struct SegmentIdTag, uint64_t>;
// Leader epoch stamped into each batch (replication).
using Epoch = StrongId<struct EpochTag, uint64_t>;
using ShardId = StrongId<struct ShardIdTag, uint32_t>;
using StreamId = StrongId<struct StreamIdTag, uint64_t>;
using ProducerId = StrongId<struct ProducerIdTag, uint64_t>;

// Watermarks are exclusive ends: every record with a sequence number below the value has
// reached that state. Written: handed to the OS. Durable: fdatasync'd. Visible: may be read by
// consumers (local logs: visible == durable; replicated logs: committed by a quorum).
using WrittenWatermark = StrongId<struct WrittenWatermarkTag, uint64_t>;
using DurableWatermark = StrongId<struct DurableWatermarkTag, uint64_t>;
using VisibleWatermark = StrongId<struct VisibleWatermarkTag, uint64_t>;

// Milliseconds since the Unix epoch.
using TimestampMs = int64_t;

}  // namespace sluice
