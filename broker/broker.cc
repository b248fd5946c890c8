// SPDX-License-Identifier: Apache-2.0
// Broker: opening, recovery, the control plane and maintenance. PutRecord(s), iterators and
// GetRecords live in broker_records.cc.
#include "broker/broker.h"

#include <cstdio>
#include <set>
#include <utility>

#include "broker/shard_name.h"
#include "broker/stream_name.h"

namespace sluice::broker {
namespace {

constexpr int64_t kMsPerHour = 3'600'000;

// Removes `path` and, when it is a directory, everything below it. A missing path is fine.
Status RemoveTree(log::io::FileSystem* fs, const std::string& path) {
  if (Result<std::vector<std::string>> names = fs->ListDir(path); names.ok()) {
    for (const std::string& name : *names) SLUICE_TRY(RemoveTree(fs, path + "/" + name));
  }
  // The memory backend has no directory entries to remove: NotFound there is success too.
  Status s = fs->Remove(path);
  return s.IsNotFound() ? Status::OK() : s;
}

Status CheckRetentionHours(uint32_t hours) {
  if (hours > static_cast<uint32_t>(kMaxRetentionHours) ||
      !ValidRetentionHours(static_cast<int32_t>(hours))) {
    return Status::InvalidArgument(
        "retention period must be " + std::to_string(kMinRetentionHours) + ".." +
        std::to_string(kMaxRetentionHours) + " hours, got " + std::to_string(hours));
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<Broker>> Broker::Open(log::io::FileSystem* fs, std::string dir,
                                             BrokerOptions options) {
  if (options.max_record_bytes == 0 || options.max_record_bytes > kMaxMaxRecordBytes) {
    return Status::InvalidArgument("max_record_bytes must be in [1, " +
                                   std::to_string(kMaxMaxRecordBytes) + "], got " +
                                   std::to_string(options.max_record_bytes));
  }
  if (options.iterator_secret.size() < kIteratorSecretBytes) {
    return Status::InvalidArgument("iterator_secret must have at least " +
                                   std::to_string(kIteratorSecretBytes) + " bytes");
  }
  if (options.clock == nullptr) return Status::InvalidArgument("clock must not be null");
  if (options.iterator_ttl_ms <= 0) {
    return Status::InvalidArgument("iterator_ttl_ms must be positive");
  }
  SLUICE_TRY(fs->CreateDirs(dir + "/streams"));
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<MetadataStore> store,
                          MetadataStore::Open(fs, dir + "/meta"));
  std::unique_ptr<Broker> broker(
      new Broker(fs, std::move(dir), std::move(options), std::move(store)));
  MutexLock lock(&broker->mu_);
  for (const auto& [name, meta] : broker->store_->streams()) {
    SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> stream, broker->OpenStream(meta));
    broker->streams_.emplace(name, std::move(stream));
  }
  SLUICE_TRY(broker->RemoveOrphans());
  return broker;
}

Broker::Broker(log::io::FileSystem* fs, std::string dir, BrokerOptions options,
               std::unique_ptr<MetadataStore> store)
    : fs_(fs),
      dir_(std::move(dir)),
      opts_(std::move(options)),
      codec_(opts_.iterator_secret, opts_.clock, opts_.iterator_ttl_ms),
      store_(std::move(store)) {}

Broker::~Broker() {
  if (Status s = Close(); !s.ok()) Log("closing broker: " + s.ToString());
}

std::string Broker::StreamDir(StreamId stream) const {
  return dir_ + "/streams/" + std::to_string(stream.value());
}

std::string Broker::ShardDir(StreamId stream, ShardId shard) const {
  return StreamDir(stream) + "/" + std::to_string(shard.value());
}

void Broker::Log(std::string_view line) const {
  if (opts_.log.logger) {
    opts_.log.logger(line);
  } else {
    std::fprintf(stderr, "sluice broker: %.*s\n", static_cast<int>(line.size()), line.data());
  }
}

Result<std::shared_ptr<Shard>> Broker::OpenShard(const StreamMetadata& meta,
                                                 const ShardMetadata& s) {
  replication::LocalLogOptions options{.log = opts_.log};
  options.log.clock = opts_.clock;
  options.log.log_append_time = true;
  options.log.retention_ms = static_cast<int64_t>(meta.retention_hours) * kMsPerHour;
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<Shard> shard,
                          Shard::Open(fs_, ShardDir(meta.id, s.id), s, std::move(options)));
  return std::shared_ptr<Shard>(std::move(shard));
}

Result<std::shared_ptr<const Stream>> Broker::OpenStream(const StreamMetadata& meta) {
  Stream::ShardMap shards;
  for (const ShardMetadata& s : meta.shards) {
    SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<Shard> shard, OpenShard(meta, s));
    if (!s.open()) {
      // Closed by resharding: readable, never appended to again.
      SLUICE_ASSIGN_OR_RETURN(SequenceNumber end, shard->Seal());
      if (end != *s.ending_offset) {
        Log("shard " + shard->dir() + " ends at " + std::to_string(end.value()) +
            ", its metadata says " + std::to_string(s.ending_offset->value()));
      }
    }
    shards.emplace(s.id, std::move(shard));
  }
  return std::shared_ptr<const Stream>(std::make_shared<Stream>(meta, std::move(shards)));
}

Status Broker::RemoveOrphans() {
  const std::string root = dir_ + "/streams";
  SLUICE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(root));
  std::set<std::string> live;
  for (const auto& [name, meta] : store_->streams()) live.insert(std::to_string(meta.id.value()));
  bool removed = false;
  for (const std::string& name : names) {
    if (live.contains(name)) continue;
    SLUICE_TRY(RemoveTree(fs_, root + "/" + name));
    removed = true;
  }
  return removed ? fs_->SyncDir(root) : Status::OK();
}

Status Broker::StreamNotFound(std::string_view name) const {
  return Status::NotFound("Stream " + std::string(name) + " under account " + opts_.account +
                          " not found.");
}

Result<std::shared_ptr<const Stream>> Broker::FindStream(std::string_view name) const {
  MutexLock lock(&mu_);
  if (closed_) return Status::Aborted("broker is closed");
  auto it = streams_.find(name);
  if (it == streams_.end()) return StreamNotFound(name);
  return it->second;
}

Status Broker::CreateStream(std::string_view name, uint32_t shard_count, uint32_t retention_hours) {
  SLUICE_TRY(ValidateStreamName(name));
  SLUICE_TRY(CheckRetentionHours(retention_hours));
  if (shard_count < 1 || shard_count > kMaxShardsPerStream) {
    return Status::InvalidArgument(
        "1 validation error detected: Value '" + std::to_string(shard_count) +
        "' at 'shardCount' failed to satisfy constraint: Member must have value " +
        (shard_count < 1 ? "greater than or equal to 1"
                         : "less than or equal to " + std::to_string(kMaxShardsPerStream)));
  }
  MutexLock lock(&mu_);
  if (closed_) return Status::Aborted("broker is closed");
  if (store_->Find(name) != nullptr) {
    return Status::Aborted("Stream " + std::string(name) + " under account " + opts_.account +
                           " already exists.");
  }
  StreamMetadata meta =
      NewStreamMetadata(std::string(name), StreamId(0), shard_count, opts_.clock->NowMs());
  meta.status = StreamStatus::kActive;
  meta.retention_hours = static_cast<int32_t>(retention_hours);
  SLUICE_ASSIGN_OR_RETURN(meta.id, store_->Create(meta));
  // Shard logs are created after the metadata, so every directory under streams/ belongs to a
  // stream the store knows (or is an orphan Open removes). A failure here undoes the stream.
  Result<std::shared_ptr<const Stream>> stream = OpenStream(meta);
  if (!stream.ok()) {
    if (Status s = store_->Delete(meta.name); !s.ok()) Log("undoing CreateStream: " + s.ToString());
    if (Status s = RemoveTree(fs_, StreamDir(meta.id)); !s.ok()) {
      Log("undoing CreateStream: " + s.ToString());
    }
    return stream.status();
  }
  streams_.emplace(meta.name, std::move(stream).value());
  version_.fetch_add(1, std::memory_order_release);
  return Status::OK();
}

Status Broker::SetRetentionPeriod(std::string_view name, uint32_t retention_hours) {
  SLUICE_TRY(ValidateStreamName(name));
  SLUICE_TRY(CheckRetentionHours(retention_hours));
  MutexLock lock(&mu_);
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> current, FindStreamLocked(name));
  StreamMetadata next = current->meta();
  next.retention_hours = static_cast<int32_t>(retention_hours);
  SLUICE_TRY(store_->Update(next));
  for (const auto& [id, shard] : current->shards()) {
    shard->log().SetRetention(static_cast<int64_t>(retention_hours) * kMsPerHour,
                              opts_.log.retention_bytes);
  }
  streams_[next.name] = std::make_shared<const Stream>(std::move(next), current->shards());
  version_.fetch_add(1, std::memory_order_release);
  return Status::OK();
}

Status Broker::DeleteStream(std::string_view name) {
  SLUICE_TRY(ValidateStreamName(name));
  std::shared_ptr<const Stream> stream;
  {
    MutexLock lock(&mu_);
    if (closed_) return Status::Aborted("broker is closed");
    auto it = streams_.find(name);
    if (it == streams_.end()) return StreamNotFound(name);
    SLUICE_TRY(store_->Delete(name));
    stream = std::move(it->second);
    streams_.erase(it);
    version_.fetch_add(1, std::memory_order_release);
  }
  // The stream is gone for good; what follows only reclaims space.
  for (const auto& [id, shard] : stream->shards()) {
    if (Status s = shard->Close(); !s.ok()) Log("DeleteStream: closing shard: " + s.ToString());
  }
  const std::string dir = StreamDir(stream->meta().id);
  if (Status s = RemoveTree(fs_, dir); !s.ok()) {
    Log("DeleteStream: removing " + dir + ": " + s.ToString() + " (retried at next open)");
  } else if (Status s = fs_->SyncDir(dir_ + "/streams"); !s.ok()) {
    Log("DeleteStream: syncing " + dir_ + "/streams: " + s.ToString());
  }
  return Status::OK();
}

std::vector<StreamSummary> Broker::ListStreams() const {
  MutexLock lock(&mu_);
  std::vector<StreamSummary> out;
  for (const auto& [name, meta] : store_->streams()) {
    out.push_back(StreamSummary{name, StreamArn(opts_.region, opts_.account, name), meta.status,
                                meta.mode, meta.creation_time_ms});
  }
  return out;
}

Result<StreamDescription> Broker::DescribeStream(std::string_view name) const {
  SLUICE_TRY(ValidateStreamName(name));
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> stream, FindStream(name));
  StreamDescription out{stream->meta(), StreamArn(opts_.region, opts_.account, name), {}};
  for (const ShardMetadata& s : stream->meta().shards) {
    ShardDescription d{
        s, ShardName(s.id), FormatSequenceNumber({s.generation, s.id, s.starting_offset}), {}};
    if (s.ending_offset) {
      // EndingSequenceNumber is the shard's last record; ending_offset is exclusive.
      const uint64_t end = s.ending_offset->value();
      const SequenceNumber last(end > s.starting_offset.value() ? end - 1 : end);
      d.ending_sequence_number = FormatSequenceNumber({s.generation, s.id, last});
    }
    out.shards.push_back(std::move(d));
  }
  return out;
}

Status Broker::EnforceRetention() {
  std::vector<std::shared_ptr<const Stream>> streams;
  {
    MutexLock lock(&mu_);
    if (closed_) return Status::Aborted("broker is closed");
    for (const auto& [name, stream] : streams_) streams.push_back(stream);
  }
  Status first;
  for (const auto& stream : streams) {
    for (const auto& [id, shard] : stream->shards()) {
      Result<log::RetentionResult> r = shard->EnforceRetention();
      if (!r.ok() && first.ok()) first = r.status();
    }
  }
  return first;
}

Status Broker::Close() {
  MutexLock lock(&mu_);
  if (closed_) return Status::OK();
  closed_ = true;
  Status first;
  for (const auto& [name, stream] : streams_) {
    for (const auto& [id, shard] : stream->shards()) {
      if (Status s = shard->Close(); !s.ok() && first.ok()) first = s;
    }
  }
  return first;
}

}  // namespace sluice::broker
