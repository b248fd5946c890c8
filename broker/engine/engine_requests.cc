// SPDX-License-Identifier: Apache-2.0
// Engine request dispatch: every frame type, on the connection's reactor. Control-plane calls
// run here against the Broker (they are rare and short); record traffic is handed to the
// reactor that owns the shard.
#include <algorithm>
#include <type_traits>
#include <utility>

#include "broker/engine/engine_impl.h"
#include "broker/native_protocol.h"
#include "broker/native_records.h"
#include "broker/shard_name.h"

namespace sluice::broker::engine {
namespace {

using native::ErrorCode;
using native::FrameType;

native::StreamStatus WireStatus(StreamStatus s) {
  switch (s) {
    case StreamStatus::kCreating:
      return native::StreamStatus::kCreating;
    case StreamStatus::kActive:
      return native::StreamStatus::kActive;
    case StreamStatus::kUpdating:
      return native::StreamStatus::kUpdating;
    case StreamStatus::kDeleting:
      return native::StreamStatus::kDeleting;
  }
  return native::StreamStatus::kActive;
}

IteratorType WireIteratorType(native::StartingPosition::Type t) {
  switch (t) {
    case native::StartingPosition::Type::kTrimHorizon:
      return IteratorType::kTrimHorizon;
    case native::StartingPosition::Type::kLatest:
      return IteratorType::kLatest;
    case native::StartingPosition::Type::kAtSequence:
      return IteratorType::kAtSequenceNumber;
    case native::StartingPosition::Type::kAfterSequence:
      return IteratorType::kAfterSequenceNumber;
    case native::StartingPosition::Type::kAtTimestamp:
      return IteratorType::kAtTimestamp;
  }
  return IteratorType::kTrimHorizon;
}

// A wire StartingPosition as Broker::ResolveIterator / GetShardIterator take it. The views
// point into `p`.
struct StartFrom {
  IteratorType type;
  std::optional<std::string_view> sequence;
  std::optional<TimestampMs> timestamp;
};
StartFrom FromWire(const native::StartingPosition& p) {
  using T = native::StartingPosition::Type;
  StartFrom s{WireIteratorType(p.type), std::nullopt, std::nullopt};
  if (p.type == T::kAtSequence || p.type == T::kAfterSequence) s.sequence = p.sequence;
  if (p.type == T::kAtTimestamp) s.timestamp = p.timestamp_ms;
  return s;
}

Status NoSuchShard(std::string_view stream, uint32_t shard) {
  return Status::NotFound("Could not find shard " + ShardName(ShardId(shard)) + " in stream " +
                          std::string(stream) + ".");
}

}  // namespace

void EngineImpl::OnFrame(const std::shared_ptr<Connection>& conn, native::Frame frame) {
  const uint8_t type = static_cast<uint8_t>(frame.header.type);
  if (!native::IsKnownFrameType(type)) {
    if ((type & native::kTypeIgnoreIfUnknown) == 0) {
      conn->SendError(frame.header.correlation_id, ErrorCode::kUnknownType,
                      "unknown frame type " + std::to_string(type));
    }
    return;
  }
  if (frame.header.type == FrameType::kHello) {
    HandleHello(*conn, frame);
    return;
  }
  if (!conn->hello_done) {
    conn->FailAndClose(ErrorCode::kMalformedFrame, "the first frame must be Hello");
    return;
  }
  Dispatch(conn, frame);
}

void EngineImpl::HandleHello(Connection& conn, const native::Frame& frame) {
  Result<native::Hello> hello = native::DecodeMessage<native::Hello>(frame);
  if (!hello.ok()) {
    conn.FailAndClose(ErrorCode::kMalformedFrame, hello.status().message());
    return;
  }
  if (hello->min_version > native::kProtocolVersion ||
      hello->max_version < native::kMinProtocolVersion) {
    conn.SendError(frame.header.correlation_id, ErrorCode::kUnsupportedVersion,
                   "this server speaks protocol versions " +
                       std::to_string(native::kMinProtocolVersion) + ".." +
                       std::to_string(native::kProtocolVersion));
    conn.CloseWhenFlushed();
    return;
  }
  conn.hello_done = true;
  native::HelloResponse r{std::min(hello->max_version, native::kProtocolVersion),
                          static_cast<uint32_t>(opts_.max_frame_bytes), opts_.server_id};
  conn.Send(native::EncodeMessage(r, frame.header.correlation_id));
}

void EngineImpl::Dispatch(const std::shared_ptr<Connection>& conn, native::Frame& frame) {
  Status s;
  switch (frame.header.type) {
    case FrameType::kProduce:
      s = HandleProduce(conn, frame);
      break;
    case FrameType::kFetch:
      s = HandleFetch(conn, frame);
      break;
    case FrameType::kSubscribe:
      s = HandleSubscribe(conn, frame);
      break;
    case FrameType::kCreateStream:
    case FrameType::kDeleteStream:
    case FrameType::kListStreams:
    case FrameType::kDescribeStream:
    case FrameType::kGetShardIterator:
    case FrameType::kSplitShard:
    case FrameType::kMergeShards:
    case FrameType::kUpdateShardCount:
      s = HandleControl(*conn, frame);
      break;
    default:  // A response type sent to the server.
      s = Status::InvalidArgument("frame type " +
                                  std::to_string(static_cast<int>(frame.header.type)) +
                                  " is not a request");
      break;
  }
  if (s.ok()) return;
  if (opts_.observer != nullptr)
    opts_.observer->OnError(static_cast<uint16_t>(native::ErrorCodeFromStatus(s)));
  if (s.IsCorruption()) {
    // A body that does not decode: the stream can no longer be trusted.
    conn->FailAndClose(ErrorCode::kMalformedFrame, s.message());
    return;
  }
  conn->SendError(frame.header.correlation_id, native::ErrorCodeFromStatus(s), s.message());
}

// --- Control plane -------------------------------------------------------------------------

Status EngineImpl::HandleControl(Connection& conn, const native::Frame& frame) {
  const uint64_t corr = frame.header.correlation_id;
  const std::string ack = native::EncodeMessage(native::Ack{}, corr);
  switch (frame.header.type) {
    case FrameType::kCreateStream: {
      SLUICE_ASSIGN_OR_RETURN(auto m, native::DecodeMessage<native::CreateStreamRequest>(frame));
      SLUICE_TRY(broker_->CreateStream(m.stream, m.shard_count, m.retention_hours));
      conn.Send(ack);
      return Status::OK();
    }
    case FrameType::kDeleteStream: {
      SLUICE_ASSIGN_OR_RETURN(auto m, native::DecodeMessage<native::DeleteStreamRequest>(frame));
      SLUICE_TRY(broker_->DeleteStream(m.stream));
      conn.Send(ack);
      return Status::OK();
    }
    case FrameType::kListStreams: {
      SLUICE_ASSIGN_OR_RETURN(auto m, native::DecodeMessage<native::ListStreamsRequest>(frame));
      native::ListStreamsResponse r;
      const uint32_t limit = m.limit == 0 ? 100 : std::min<uint32_t>(m.limit, 10'000);
      for (const StreamSummary& s : broker_->ListStreams()) {  // Sorted by name.
        if (!m.exclusive_start.empty() && s.name <= m.exclusive_start) continue;
        if (r.streams.size() == limit) {
          r.has_more = true;
          break;
        }
        r.streams.push_back(s.name);
      }
      conn.Send(native::EncodeMessage(r, corr));
      return Status::OK();
    }
    case FrameType::kDescribeStream: {
      SLUICE_ASSIGN_OR_RETURN(auto m, native::DecodeMessage<native::DescribeStreamRequest>(frame));
      SLUICE_ASSIGN_OR_RETURN(StreamDescription d, broker_->DescribeStream(m.stream));
      native::DescribeStreamResponse r;
      r.stream = d.meta.name;
      r.status = WireStatus(d.meta.status);
      r.retention_hours = static_cast<uint32_t>(d.meta.retention_hours);
      for (const broker::ShardDescription& s : d.shards) {
        native::ShardDescription w;
        w.shard_id = s.meta.id.value();
        if (s.meta.parent) w.parent_shards.push_back(s.meta.parent->value());
        if (s.meta.adjacent_parent) w.parent_shards.push_back(s.meta.adjacent_parent->value());
        w.starting_hash_key = s.meta.range.start.ToString();
        w.ending_hash_key = s.meta.range.end.ToString();
        w.starting_sequence = s.starting_sequence_number;
        w.ending_sequence = s.ending_sequence_number.value_or("");
        r.shards.push_back(std::move(w));
      }
      conn.Send(native::EncodeMessage(r, corr));
      return Status::OK();
    }
    case FrameType::kGetShardIterator: {
      SLUICE_ASSIGN_OR_RETURN(auto m,
                              native::DecodeMessage<native::GetShardIteratorRequest>(frame));
      const StartFrom start = FromWire(m.position);
      SLUICE_ASSIGN_OR_RETURN(std::string token, broker_->GetShardIterator(
                                                     m.stream, ShardName(ShardId(m.shard_id)),
                                                     start.type, start.sequence, start.timestamp));
      conn.Send(native::EncodeMessage(native::GetShardIteratorResponse{std::move(token)}, corr));
      return Status::OK();
    }
    case FrameType::kSplitShard: {
      SLUICE_ASSIGN_OR_RETURN(auto m, native::DecodeMessage<native::SplitShardRequest>(frame));
      SLUICE_TRY(
          broker_->SplitShard(m.stream, ShardName(ShardId(m.shard_id)), m.new_starting_hash_key));
      conn.Send(ack);
      return Status::OK();
    }
    case FrameType::kMergeShards: {
      SLUICE_ASSIGN_OR_RETURN(auto m, native::DecodeMessage<native::MergeShardsRequest>(frame));
      SLUICE_TRY(broker_->MergeShards(m.stream, ShardName(ShardId(m.shard_id)),
                                      ShardName(ShardId(m.adjacent_shard_id))));
      conn.Send(ack);
      return Status::OK();
    }
    case FrameType::kUpdateShardCount: {
      SLUICE_ASSIGN_OR_RETURN(auto m,
                              native::DecodeMessage<native::UpdateShardCountRequest>(frame));
      SLUICE_TRY(broker_->UpdateShardCount(m.stream, m.target_shard_count).status());
      conn.Send(ack);
      return Status::OK();
    }
    default:
      return Status::InvalidArgument("not a control request");
  }
}

// --- Record traffic ------------------------------------------------------------------------

Result<std::shared_ptr<const Stream>> EngineImpl::Snapshot(PerReactor& pr,
                                                           const std::string& name) {
  const uint64_t version = broker_->metadata_version();
  if (version != pr.version) {
    pr.streams.clear();
    pr.version = version;
  }
  auto it = pr.streams.find(name);
  if (it != pr.streams.end()) return it->second;
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> stream, broker_->GetStream(name));
  // The version may have moved while looking up: cache only a snapshot known to be current.
  if (broker_->metadata_version() == version) pr.streams.emplace(name, stream);
  return stream;
}

uint32_t EngineImpl::OwnerOf(uint64_t stream_id, uint32_t shard) const {
  // Consecutive shards of one stream land on consecutive reactors.
  return static_cast<uint32_t>((stream_id * 7 + shard) % per_.size());
}

Result<ShardOwner*> EngineImpl::Owner(PerReactor& pr, const std::shared_ptr<const Stream>& stream,
                                      ShardId shard) {
  const auto key = std::make_pair(stream->meta().id.value(), shard.value());
  auto it = pr.owners.find(key);
  if (it != pr.owners.end()) return it->second.get();
  auto found = stream->shards().find(shard);
  if (found == stream->shards().end()) return NoSuchShard(stream->meta().name, shard.value());
  // The snapshot may predate a DeleteStream that this reactor's sweep has already handled: an
  // owner created now would never be purged.
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> current,
                          broker_->GetStream(stream->meta().name));
  if (current->meta().id != stream->meta().id) return broker_->StreamNotFound(stream->meta().name);
  ShardOwner::Context ctx{pr.reactor.get(), broker_, opts_.observer,
                          broker_->options().max_record_bytes, append_pool_.get()};
  std::shared_ptr<ShardOwner> owner =
      ShardOwner::Create(ctx, found->second, stream->meta().name, stream->meta().id.value());
  if (!owner->init_status().ok()) return owner->init_status();
  return pr.owners.emplace(key, std::move(owner)).first->second.get();
}

ReplyTo EngineImpl::MakeReply(const std::shared_ptr<Connection>& conn, uint64_t corr,
                              size_t reserved) {
  conn->Reserve(reserved);
  in_flight_.fetch_add(1, std::memory_order_acq_rel);
  return ReplyTo{conn, conn->reactor(), corr, reserved, &in_flight_};
}

template <typename Job>
void EngineImpl::HandOff(std::unique_ptr<Job> job, ShardId shard,
                         void (ShardOwner::*method)(std::unique_ptr<Job>)) {
  PerReactor* owner_pr = per_[OwnerOf(job->stream->meta().id.value(), shard.value())].get();
  // Reactor tasks are std::functions, which must be copyable: the job rides in a shared holder
  // (freed with the task if the reactor stops before running it).
  auto holder = std::make_shared<std::unique_ptr<Job>>(std::move(job));
  auto run = [this, owner_pr, shard, method, holder] {
    std::unique_ptr<Job> job = std::move(*holder);
    Result<ShardOwner*> owner = Owner(*owner_pr, job->stream, shard);
    if (!owner.ok()) {
      job->reply.Error(owner.status());
      if constexpr (std::is_same_v<Job, SubscribeJob>) EndSubscription(job->reply);
      return;
    }
    ((*owner)->*method)(std::move(job));
  };
  if (owner_pr->reactor->InLoop()) {
    run();
  } else {
    owner_pr->reactor->Post(std::move(run));
  }
}

Status EngineImpl::HandleProduce(const std::shared_ptr<Connection>& conn, native::Frame& frame) {
  const SteadyTime arrival = std::chrono::steady_clock::now();
  SLUICE_ASSIGN_OR_RETURN(native::ProduceRequest req,
                          native::DecodeMessage<native::ProduceRequest>(frame));
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> stream, Snapshot(Local(*conn), req.stream));
  ShardId shard;
  if (req.selector.kind == native::ShardSelector::Kind::kShardId) {
    shard = ShardId(req.selector.shard_id);
    if (stream->FindShard(shard) == nullptr) return NoSuchShard(req.stream, shard.value());
  } else {
    HashKey key;
    if (req.selector.explicit_hash_key.empty()) {
      key = HashKeyFromPartitionKey(req.selector.partition_key);
    } else {
      SLUICE_ASSIGN_OR_RETURN(key, ParseExplicitHashKey(req.selector.explicit_hash_key));
    }
    SLUICE_ASSIGN_OR_RETURN(Shard * routed, stream->Route(key));
    shard = routed->id();
  }
  auto job = std::make_unique<ProduceJob>();
  job->reply = MakeReply(conn, frame.header.correlation_id, frame.body.size());
  job->stream = std::move(stream);
  job->request = std::move(req);
  job->arrival = arrival;
  HandOff(std::move(job), shard, &ShardOwner::Produce);
  return Status::OK();
}

Status EngineImpl::HandleFetch(const std::shared_ptr<Connection>& conn,
                               const native::Frame& frame) {
  SLUICE_ASSIGN_OR_RETURN(native::FetchRequest req,
                          native::DecodeMessage<native::FetchRequest>(frame));
  std::string stream_name = req.stream;
  ShardId shard(req.shard_id);
  uint64_t offset = req.offset;
  uint64_t incarnation = 0;
  if (req.from == native::FetchRequest::From::kIterator) {
    SLUICE_ASSIGN_OR_RETURN(IteratorPosition pos, broker_->iterator_codec().Decode(req.iterator));
    stream_name = pos.stream;
    shard = pos.shard;
    offset = pos.offset.value();
    incarnation = pos.incarnation;
  }
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> stream,
                          Snapshot(Local(*conn), stream_name));
  if (incarnation != 0 && stream->meta().id.value() != incarnation) {
    return broker_->StreamNotFound(stream_name);
  }
  if (stream->FindShard(shard) == nullptr) return NoSuchShard(stream_name, shard.value());
  auto job = std::make_unique<FetchJob>();
  job->stream = std::move(stream);
  job->offset = offset;
  job->max_bytes =
      std::clamp<uint32_t>(req.max_bytes, 1, static_cast<uint32_t>(opts_.max_frame_bytes / 2));
  // Count the reply now, so that pipelined fetches cannot commit the connection to more memory
  // than its cap. A read returns at least one whole batch, which may be as large as a frame,
  // whatever max_bytes says.
  job->reply =
      MakeReply(conn, frame.header.correlation_id,
                frame.body.size() + std::max<size_t>(job->max_bytes, opts_.max_frame_bytes));
  job->max_wait_ms = std::min(req.max_wait_ms, kMaxFetchWaitMs);
  HandOff(std::move(job), shard, &ShardOwner::Fetch);
  return Status::OK();
}

Status EngineImpl::HandleSubscribe(const std::shared_ptr<Connection>& conn,
                                   const native::Frame& frame) {
  SLUICE_ASSIGN_OR_RETURN(native::SubscribeRequest req,
                          native::DecodeMessage<native::SubscribeRequest>(frame));
  const StartFrom start = FromWire(req.position);
  SLUICE_ASSIGN_OR_RETURN(IteratorPosition pos,
                          broker_->ResolveIterator(req.stream, ShardName(ShardId(req.shard_id)),
                                                   start.type, start.sequence, start.timestamp));
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> stream, Snapshot(Local(*conn), req.stream));
  if (stream->meta().id.value() != pos.incarnation) return broker_->StreamNotFound(req.stream);
  conn->active_waits++;  // A subscribed connection is never idle.
  auto job = std::make_unique<SubscribeJob>();
  job->reply = MakeReply(conn, frame.header.correlation_id, frame.body.size());
  job->stream = std::move(stream);
  job->offset = pos.offset.value();
  job->max_bytes_per_push = std::clamp<uint32_t>(req.max_bytes_per_push, 1,
                                                 static_cast<uint32_t>(opts_.max_frame_bytes / 2));
  HandOff(std::move(job), pos.shard, &ShardOwner::Subscribe);
  return Status::OK();
}

}  // namespace sluice::broker::engine
