// SPDX-License-Identifier: Apache-2.0
// The records a reader gets: stored batches from Fetch responses and Subscribe pushes,
// validated and decoded on the client into Kinesis-style records.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "broker/client/admin.h"
#include "broker/sequence_number.h"
#include "log/base/result.h"
#include "log/base/status.h"
#include "log/base/types.h"

namespace sluice::client {

struct ReadRecord {
  ShardId shard;
  std::string sequence_number;  // 56-digit Kinesis-style (broker/sequence_number.h).
  std::string partition_key;
  std::string data;
  TimestampMs arrival_ms = 0;  // ApproximateArrivalTimestamp: the broker's append time.
};

// Validates `batches` (native::ValidateBatches: every batch whole, checksums right) and appends
// the records of each to `*out`, skipping ignorable batches. `shard` and its `generation` (see
// ShardGenerationOf) name the shard they came from. Records below offset `from` are skipped:
// Fetch and Subscribe return whole stored batches, so the first one may begin before the
// position asked for (AT/AFTER_SEQUENCE_NUMBER inside a batch). Returns the offset after the
// last record seen (at least `from`): the `from` of the next response. Corruption, Truncated or
// NotSupported on bad input, with nothing appended.
Result<SequenceNumber> DecodeFetchedRecords(std::string_view batches, ShardId shard,
                                            broker::ShardGeneration generation, SequenceNumber from,
                                            std::vector<ReadRecord>* out);

// The first offset `position` reads in `shard`: the record a kAtSequence / kAfterSequence
// position names (or the one after it), when that number is this shard's; else 0.
SequenceNumber FirstOffset(const StartingPosition& position, ShardId shard);

// A shard's generation, from its starting sequence number. Corruption when it is not ours.
Result<broker::ShardGeneration> ShardGenerationOf(const ShardDescription& shard);

}  // namespace sluice::client
