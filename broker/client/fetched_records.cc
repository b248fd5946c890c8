// SPDX-License-Identifier: Apache-2.0
#include "broker/client/fetched_records.h"

#include <algorithm>
#include <span>

#include "broker/native_records.h"
#include "log/record_batch.h"

namespace sluice::client {

Result<SequenceNumber> DecodeFetchedRecords(std::string_view batches, ShardId shard,
                                            broker::ShardGeneration generation, SequenceNumber from,
                                            std::vector<ReadRecord>* out) {
  SLUICE_TRY(native::ValidateBatches(batches));
  SequenceNumber next = from;
  std::vector<ReadRecord> decoded;
  std::string scratch;
  std::span<const std::byte> rest = log::AsBytes(batches);
  while (!rest.empty()) {
    SLUICE_ASSIGN_OR_RETURN(log::RecordBatchView view, log::RecordBatchView::Parse(rest));
    rest = rest.subspan(view.header().length);
    next = std::max(next, view.header().next_offset());
    if (view.ignorable() || view.header().next_offset() <= from) continue;
    SLUICE_ASSIGN_OR_RETURN(std::vector<log::Record> records, view.DecodeRecords(&scratch));
    for (const log::Record& r : records) {
      if (r.offset < from) continue;
      ReadRecord rec;
      rec.shard = shard;
      rec.sequence_number = broker::FormatSequenceNumber({generation, shard, r.offset});
      rec.partition_key = std::string(r.key);
      rec.data = std::string(r.value);
      rec.arrival_ms = r.timestamp;
      decoded.push_back(std::move(rec));
    }
  }
  out->insert(out->end(), std::make_move_iterator(decoded.begin()),
              std::make_move_iterator(decoded.end()));
  return next;
}

SequenceNumber FirstOffset(const StartingPosition& position, ShardId shard) {
  using Type = StartingPosition::Type;
  if (position.type != Type::kAtSequence && position.type != Type::kAfterSequence) {
    return SequenceNumber(0);
  }
  auto parts = broker::ParseSequenceNumber(position.sequence);
  if (!parts.ok() || parts->shard != shard) return SequenceNumber(0);
  return position.type == Type::kAtSequence ? parts->offset : parts->offset.Next();
}

Result<broker::ShardGeneration> ShardGenerationOf(const ShardDescription& shard) {
  auto parts = broker::ParseSequenceNumber(shard.starting_sequence);
  if (!parts.ok()) {
    return Status::Corruption(
        "shard " + std::to_string(shard.shard_id) +
        " has a foreign starting sequence number: " + parts.status().ToString());
  }
  return parts->generation;
}

}  // namespace sluice::client
