// SPDX-License-Identifier: Apache-2.0
#include "broker/shard.h"

#include <algorithm>
#include <utility>

#include "log/record_batch.h"

namespace sluice::broker {

Result<std::unique_ptr<Shard>> Shard::Open(log::io::FileSystem* fs, const std::string& dir,
                                           const ShardMetadata& meta,
                                           replication::LocalLogOptions options) {
  SLUICE_TRY(fs->CreateDirs(dir));
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<replication::LocalLog> log,
                          replication::LocalLog::Open(fs, dir, std::move(options)));
  return std::unique_ptr<Shard>(new Shard(dir, meta, std::move(log)));
}

Shard::Shard(std::string dir, const ShardMetadata& meta, std::unique_ptr<replication::LocalLog> log)
    : dir_(std::move(dir)), id_(meta.id), generation_(meta.generation), log_(std::move(log)) {}

Shard::~Shard() = default;

std::string Shard::SequenceNumberOf(SequenceNumber offset) const {
  return FormatSequenceNumber({generation_, id_, offset});
}

Result<std::vector<SequenceNumber>> Shard::Append(const std::vector<ShardRecord>& records) {
  std::vector<SequenceNumber> offsets;
  offsets.reserve(records.size());
  log::RecordBatchBuilder builder;
  auto flush = [&]() -> Status {
    SLUICE_ASSIGN_OR_RETURN(std::string batch, builder.Finish());
    SLUICE_ASSIGN_OR_RETURN(log::AppendResult appended, log_->Append(log::AsBytes(batch)));
    for (uint64_t o = appended.base.value(); o <= appended.last.value(); ++o) {
      offsets.emplace_back(o);
    }
    return Status::OK();
  };
  for (const ShardRecord& r : records) {
    const size_t size = r.partition_key.size() + r.data.size();
    if (!builder.empty() && builder.UncompressedBytes() + size > kMaxShardBatchBytes) {
      SLUICE_TRY(flush());
    }
    // The log stamps the append time (log_append_time), replacing this placeholder.
    builder.Add(r.partition_key, r.data, /*timestamp=*/0);
  }
  if (!builder.empty()) SLUICE_TRY(flush());
  return offsets;
}

Result<ShardReadResult> Shard::Read(SequenceNumber from, size_t limit, size_t max_bytes) const {
  ShardReadResult out;
  SequenceNumber cur = std::max(from, log_->start());
  std::string scratch;
  bool full = false;
  while (!full && out.records.size() < limit) {
    Result<log::ReadResult> read =
        log_->Read(cur, log::ReadOptions{.max_bytes = std::max<size_t>(max_bytes, 1)});
    if (!read.ok() && read.status().IsNotFound()) {
      // Retention moved the trim horizon past `cur` meanwhile: continue from the new one.
      const SequenceNumber start = log_->start();
      if (start <= cur) return read.status();
      cur = start;
      continue;
    }
    SLUICE_TRY(read);
    if (read->batch_count == 0) break;
    for (const log::RecordBatchView& batch : read->Batches()) {
      if (batch.ignorable()) continue;
      SLUICE_ASSIGN_OR_RETURN(std::vector<log::Record> records, batch.DecodeRecords(&scratch));
      for (const log::Record& r : records) {
        if (r.offset < cur) continue;  // The first batch may start before `from`.
        const size_t size = r.key.size() + r.value.size();
        if (out.records.size() >= limit ||
            (!out.records.empty() && out.data_bytes + size > max_bytes)) {
          full = true;
          break;
        }
        out.records.push_back(
            ShardReadRecord{r.offset, r.timestamp, std::string(r.key), std::string(r.value)});
        out.data_bytes += size;
        cur = SequenceNumber(r.offset.value() + 1);
      }
      if (full) break;
      cur = std::max(cur, batch.header().next_offset());
    }
  }
  out.next = cur;
  out.end = visible_end();
  return out;
}

Result<SequenceNumber> Shard::Seal() {
  SLUICE_TRY(log_->Close());
  const SequenceNumber end = log_->next_offset();
  if (visible_end() != end) {
    return Status::IOError("shard " + dir_ + " closed with records written but not durable");
  }
  return end;
}

Result<SequenceNumber> Shard::LookupTimestamp(TimestampMs ts) const {
  return log_->LookupTimestamp(ts);
}

}  // namespace sluice::broker
