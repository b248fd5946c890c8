// SPDX-License-Identifier: Apache-2.0
// Broker: the data plane: PutRecord(s), GetShardIterator and GetRecords.
#include <algorithm>
#include <map>
#include <utility>

#include "broker/broker.h"
#include "broker/hash_key.h"
#include "broker/shard_name.h"
#include "broker/stream_name.h"

namespace sluice::broker {
namespace {

Status LengthError(std::string_view what, std::string_view value, std::string_view constraint) {
  std::string shown = value.empty() ? std::string() : "'" + std::string(value) + "' ";
  return Status::InvalidArgument("1 validation error detected: Value " + shown + "at '" +
                                 std::string(what) + "' failed to satisfy constraint: Member " +
                                 std::string(constraint));
}

}  // namespace

Result<Shard*> Broker::RouteRecord(const Stream& stream, std::string_view partition_key,
                                   std::string_view data,
                                   std::optional<std::string_view> explicit_hash_key) const {
  // Lengths are counted in bytes (Kinesis counts characters; keys are usually ASCII).
  if (partition_key.empty()) {
    return LengthError("partitionKey", "", "must have length greater than or equal to 1");
  }
  if (partition_key.size() > kMaxPartitionKeyLength) {
    return LengthError(
        "partitionKey", partition_key,
        "must have length less than or equal to " + std::to_string(kMaxPartitionKeyLength));
  }
  if (data.size() > opts_.max_record_bytes) {
    // Kinesis does not echo the blob either.
    return LengthError(
        "data", "",
        "must have length less than or equal to " + std::to_string(opts_.max_record_bytes));
  }
  HashKey key;
  if (explicit_hash_key) {
    SLUICE_ASSIGN_OR_RETURN(key, ParseExplicitHashKey(*explicit_hash_key));
  } else {
    key = HashKeyFromPartitionKey(partition_key);
  }
  return stream.Route(key);
}

Result<PutRecordResult> Broker::PutRecord(
    std::string_view stream_name, std::string_view partition_key, std::string_view data,
    std::optional<std::string_view> explicit_hash_key,
    std::optional<std::string_view> sequence_number_for_ordering) {
  SLUICE_TRY(ValidateStreamName(stream_name));
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> stream, FindStream(stream_name));
  if (sequence_number_for_ordering &&
      !ParseClientSequenceNumber(*sequence_number_for_ordering).ok()) {
    return Status::InvalidArgument("ExclusiveMinimumSequenceNumber " +
                                   std::string(*sequence_number_for_ordering) +
                                   " used in PutRecord on stream " + std::string(stream_name) +
                                   " under account " + opts_.account + " is invalid.");
  }
  for (;;) {
    SLUICE_ASSIGN_OR_RETURN(Shard * shard,
                            RouteRecord(*stream, partition_key, data, explicit_hash_key));
    Result<std::vector<SequenceNumber>> offsets = shard->Append({ShardRecord{partition_key, data}});
    if (offsets.ok()) {
      return PutRecordResult{ShardName(shard->id()), shard->SequenceNumberOf(offsets->front())};
    }
    SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> latest,
                            Refreshed(stream, offsets.status()));
    stream = std::move(latest);
  }
}

Result<PutRecordsResult> Broker::PutRecords(std::string_view stream_name,
                                            const std::vector<PutRecordsEntry>& entries) {
  SLUICE_TRY(ValidateStreamName(stream_name));
  if (entries.empty() || entries.size() > kMaxPutRecordsEntries) {
    return LengthError("records", "",
                       entries.empty() ? "must have length greater than or equal to 1"
                                       : "must have length less than or equal to " +
                                             std::to_string(kMaxPutRecordsEntries));
  }
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> stream, FindStream(stream_name));
  PutRecordsResult out;
  out.records.resize(entries.size());
  std::vector<size_t> pending(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) pending[i] = i;
  // Each round routes the pending entries on one snapshot; entries whose shard was sealed by
  // a resharding meanwhile go round again on the newer snapshot.
  while (!pending.empty()) {
    // Per shard, the entries it takes in request order.
    std::map<Shard*, std::vector<size_t>> groups;
    for (size_t i : pending) {
      const PutRecordsEntry& e = entries[i];
      Result<Shard*> shard = RouteRecord(*stream, e.partition_key, e.data, e.explicit_hash_key);
      out.records[i].status = shard.status();
      if (shard.ok()) groups[*shard].push_back(i);
    }
    std::vector<size_t> retry;
    Status sealed;
    for (const auto& [shard, indices] : groups) {
      std::vector<ShardRecord> records;
      records.reserve(indices.size());
      for (size_t i : indices) records.push_back({entries[i].partition_key, entries[i].data});
      Result<std::vector<SequenceNumber>> offsets = shard->Append(records);
      if (!offsets.ok() && offsets.status().code() == Status::Code::kAborted) {
        retry.insert(retry.end(), indices.begin(), indices.end());
        sealed = offsets.status();
      }
      for (size_t k = 0; k < indices.size(); ++k) {
        PutRecordsEntryResult& r = out.records[indices[k]];
        if (!offsets.ok()) {
          r.status = offsets.status();
          continue;
        }
        r.shard_id = ShardName(shard->id());
        r.sequence_number = shard->SequenceNumberOf((*offsets)[k]);
      }
    }
    pending.clear();
    if (retry.empty()) break;
    Result<std::shared_ptr<const Stream>> latest = Refreshed(stream, sealed);
    if (!latest.ok()) break;  // The entries keep their Aborted status.
    stream = std::move(latest).value();
    std::sort(retry.begin(), retry.end());
    pending = std::move(retry);
  }
  for (const PutRecordsEntryResult& r : out.records) out.failed_record_count += !r.status.ok();
  return out;
}

Result<std::string> Broker::GetShardIterator(
    std::string_view stream_name, std::string_view shard_id, IteratorType type,
    std::optional<std::string_view> starting_sequence_number,
    std::optional<TimestampMs> timestamp) {
  SLUICE_ASSIGN_OR_RETURN(
      IteratorPosition pos,
      ResolveIterator(stream_name, shard_id, type, starting_sequence_number, timestamp));
  return codec_.Issue(pos);
}

Result<IteratorPosition> Broker::ResolveIterator(
    std::string_view stream_name, std::string_view shard_id, IteratorType type,
    std::optional<std::string_view> starting_sequence_number,
    std::optional<TimestampMs> timestamp) {
  SLUICE_TRY(ValidateStreamName(stream_name));
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> stream, FindStream(stream_name));
  const std::string where =
      " in stream " + std::string(stream_name) + " under account " + opts_.account;
  const std::optional<ShardId> id = ParseShardName(shard_id);
  Shard* shard = id ? stream->FindShard(*id) : nullptr;
  if (shard == nullptr) {
    return Status::NotFound("Could not find shard " + std::string(shard_id) + where + ".");
  }
  const bool by_number =
      type == IteratorType::kAtSequenceNumber || type == IteratorType::kAfterSequenceNumber;
  const std::string type_name(IteratorTypeName(type));
  if (by_number != starting_sequence_number.has_value()) {
    return Status::InvalidArgument(
        "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and "
        "StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. "
        "Request specified " +
        type_name + (by_number ? " and no" : " and also a") + " StartingSequenceNumber.");
  }
  if ((type == IteratorType::kAtTimestamp) != timestamp.has_value()) {
    return Status::InvalidArgument(
        timestamp ? "Must not specify timestampInMillis parameter for iterator of type " +
                        type_name + ". Current request has timestamp parameter."
                  : std::string("Must specify timestampInMillis parameter for iterator of type "
                                "AT_TIMESTAMP. Current request has no timestamp parameter."));
  }
  SequenceNumber offset;
  switch (type) {
    case IteratorType::kTrimHorizon:
      offset = shard->start();
      break;
    case IteratorType::kLatest:
      offset = shard->next_offset();
      break;
    case IteratorType::kAtSequenceNumber:
    case IteratorType::kAfterSequenceNumber: {
      const std::string number(*starting_sequence_number);
      SLUICE_ASSIGN_OR_RETURN(std::optional<SequenceNumberParts> parts,
                              ParseClientSequenceNumber(number));
      const std::string prefix = "StartingSequenceNumber " + number +
                                 " used in GetShardIterator on shard " + std::string(shard_id) +
                                 where + " is invalid because it ";
      if (!parts || parts->shard != shard->id() || parts->generation != shard->generation()) {
        return Status::InvalidArgument(prefix + "did not come from this shard.");
      }
      if (parts->offset >= shard->next_offset()) {
        return Status::InvalidArgument(prefix + "is beyond the end of the shard.");
      }
      offset = type == IteratorType::kAtSequenceNumber ? parts->offset
                                                       : SequenceNumber(parts->offset.value() + 1);
      break;
    }
    case IteratorType::kAtTimestamp: {
      const TimestampMs now = opts_.clock->NowMs();
      if (*timestamp > now) {
        return Status::InvalidArgument(
            "The timestampInMillis parameter cannot be greater than the "
            "currentTimestampInMillis. timestampInMillis: " +
            std::to_string(*timestamp) + ", currentTimestampInMillis: " + std::to_string(now));
      }
      SLUICE_ASSIGN_OR_RETURN(offset, shard->LookupTimestamp(*timestamp));
      break;
    }
  }
  return IteratorPosition{std::string(stream_name), shard->id(), stream->meta().id.value(), offset};
}

Result<GetRecordsResult> Broker::GetRecords(std::string_view token, std::optional<size_t> limit) {
  if (limit && (*limit < 1 || *limit > kMaxGetRecordsLimit)) {
    return LengthError("limit", std::to_string(*limit),
                       *limit < 1 ? "must have value greater than or equal to 1"
                                  : "must have value less than or equal to " +
                                        std::to_string(kMaxGetRecordsLimit));
  }
  SLUICE_ASSIGN_OR_RETURN(IteratorPosition pos, codec_.Decode(token));
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> stream, FindStream(pos.stream));
  // The token's incarnation is the stream id: a recreated stream of the same name is another.
  if (stream->meta().id.value() != pos.incarnation) return StreamNotFound(pos.stream);
  Shard* shard = stream->FindShard(pos.shard);
  const ShardMetadata* meta = stream->meta().FindShard(pos.shard);
  if (shard == nullptr || meta == nullptr) {
    return Status::NotFound("Could not find shard " + ShardName(pos.shard) + " in stream " +
                            pos.stream + " under account " + opts_.account + ".");
  }
  SLUICE_ASSIGN_OR_RETURN(
      ShardReadResult read,
      shard->Read(pos.offset, limit.value_or(kMaxGetRecordsLimit), kMaxGetRecordsBytes));
  GetRecordsResult out;
  out.records.reserve(read.records.size());
  for (ShardReadRecord& r : read.records) {
    out.records.push_back(GetRecordsRecord{shard->SequenceNumberOf(r.offset),
                                           std::move(r.partition_key), std::move(r.data),
                                           r.arrival_ms});
  }
  if (read.next < read.end && !out.records.empty()) {
    out.millis_behind_latest =
        std::max<int64_t>(0, opts_.clock->NowMs() - out.records.back().arrival_ms);
  }
  // A closed shard in the snapshot is sealed (CommitReshard, OpenStream), so its log's end is
  // final; it is ending_offset unless a crash lost unsynced records.
  const bool exhausted = !meta->open() && read.next >= shard->next_offset();
  if (!exhausted) {
    pos.offset = read.next;
    out.next_shard_iterator = codec_.Issue(pos);
    return out;
  }
  for (const ShardMetadata& s : stream->meta().shards) {
    if (s.parent != pos.shard && s.adjacent_parent != pos.shard) continue;
    ChildShard child{ShardName(s.id), {}, s.range};
    if (s.parent) child.parent_shards.push_back(ShardName(*s.parent));
    if (s.adjacent_parent) child.parent_shards.push_back(ShardName(*s.adjacent_parent));
    out.child_shards.push_back(std::move(child));
  }
  return out;
}

Result<std::shared_ptr<const Stream>> Broker::Refreshed(const std::shared_ptr<const Stream>& used,
                                                        const Status& append_error) const {
  if (append_error.code() != Status::Code::kAborted) return append_error;
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> latest, FindStream(used->meta().name));
  // Same snapshot: closed for another reason. Another id: deleted and re-created.
  if (latest == used || latest->meta().id != used->meta().id) return append_error;
  return latest;
}

}  // namespace sluice::broker
