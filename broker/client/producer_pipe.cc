// SPDX-License-Identifier: Apache-2.0
// Producer internals, per shard: routing into open batches, sealing and stamping, responses,
// and recovery after a failure (resend in sequence order, producer id rotation, rerouting).
#include <algorithm>
#include <chrono>
#include <random>
#include <utility>

#include "broker/client/producer_impl.h"
#include "broker/native_records.h"
#include "broker/sequence_number.h"
#include "log/record_batch.h"

namespace sluice::client {
namespace {

// Framing bytes a record adds to a batch beyond its key and data (varints), an upper bound.
constexpr size_t kRecordOverheadBytes = 16;

thread_local bool t_in_callback = false;

enum class Disposition {
  kRetry,    // Resend with the same stamp (always safe: the server deduplicates).
  kReroute,  // The shard closed or vanished: describe again, route the records anew.
  kFatal,    // Fail the batch's records.
};

Disposition Classify(const Status& s) {
  switch (s.code()) {
    case Status::Code::kUnavailable:
    case Status::Code::kIOError:
    case Status::Code::kNoSpace:
      return Disposition::kRetry;
    case Status::Code::kNotFound:
    case Status::Code::kAborted:
      return Disposition::kReroute;
    case Status::Code::kInvalidArgument:
      // The server refused a sequence gap: an earlier batch is being retried (or failed).
      if (s.message().find("out of order sequence") != std::string_view::npos) {
        return Disposition::kRetry;
      }
      return Disposition::kFatal;
    default:
      return Disposition::kFatal;
  }
}

bool IsOutOfOrder(const Status& s) {
  return s.IsInvalidArgument() &&
         s.message().find("out of order sequence") != std::string_view::npos;
}

}  // namespace

uint64_t RandomProducerId() {
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return id;
}

bool InProducerCallback() { return t_in_callback; }

size_t ProducerBatch::bytes() const {
  size_t n = 0;
  for (const auto& r : records) n += r.bytes();
  return n;
}

void Producer::Impl::Run(Completions* done) {
  if (done->empty()) return;
  t_in_callback = true;
  for (auto& [callback, result] : *done) {
    if (callback) callback(std::move(result));
  }
  t_in_callback = false;
  MutexLock l(&mu_);
  outstanding_ -= done->size();
  done->clear();
  space_cv_.notify_all();
  Wake();
}

// --- Routing and sealing ---------------------------------------------------------------------

ShardPipe* Producer::Impl::PipeFor(StreamState* stream, ShardId shard) {
  auto it = stream->pipes.find(shard);
  if (it == stream->pipes.end()) {
    it = stream->pipes.emplace(shard, ShardPipe{}).first;
    it->second.shard = shard;
    it->second.producer_id = opts_.producer_id;
  }
  return &it->second;
}

void Producer::Impl::Route(StreamState* stream, std::vector<ProducerRecord> records, bool front) {
  const int64_t now = NowNs();
  std::map<ShardId, std::vector<ProducerRecord>> per_shard;
  for (ProducerRecord& r : records) {
    Result<ShardId> shard = Status::Unavailable("stream not described");
    if (stream->router && !stream->need_describe) {
      shard = stream->router->Route(r.partition_key, r.explicit_hash_key);
    }
    if (!shard.ok()) {  // No open shard owns it: the stream is changing. Describe again.
      stream->need_describe = true;
      stream->unrouted.push_back(std::move(r));
      continue;
    }
    per_shard[*shard].push_back(std::move(r));
  }
  for (auto& [shard, recs] : per_shard) {
    ShardPipe* pipe = PipeFor(stream, shard);
    if (front) {
      size_t bytes = 0;
      int64_t oldest = now;
      for (const auto& r : recs) {
        bytes += r.bytes() + kRecordOverheadBytes;
        oldest = std::min(oldest, r.enqueued_ns);
      }
      if (pipe->open.empty() || oldest < pipe->open_since_ns) pipe->open_since_ns = oldest;
      pipe->open.insert(pipe->open.begin(), std::make_move_iterator(recs.begin()),
                        std::make_move_iterator(recs.end()));
      pipe->open_bytes += bytes;
    } else {
      for (ProducerRecord& r : recs) AddToOpen(pipe, std::move(r), now);
    }
  }
  Wake();
}

void Producer::Impl::AddToOpen(ShardPipe* pipe, ProducerRecord record, int64_t now) {
  const size_t est = record.bytes() + kRecordOverheadBytes;
  if (!pipe->open.empty() && (pipe->open_bytes + est > opts_.max_batch_bytes ||
                              pipe->open.size() >= opts_.max_batch_records)) {
    SealOne(pipe);
  }
  if (pipe->open.empty()) pipe->open_since_ns = now;
  pipe->open.push_back(std::move(record));
  pipe->open_bytes += est;
}

void Producer::Impl::SealOne(ShardPipe* pipe) {
  size_t n = 0;
  size_t bytes = 0;
  while (n < pipe->open.size()) {
    size_t est = pipe->open[n].bytes() + kRecordOverheadBytes;
    if (n > 0 && (bytes + est > opts_.max_batch_bytes || n >= opts_.max_batch_records)) break;
    bytes += est;
    ++n;
  }
  auto batch = std::make_unique<ProducerBatch>();
  batch->id = next_batch_id_++;
  batch->records.assign(std::make_move_iterator(pipe->open.begin()),
                        std::make_move_iterator(pipe->open.begin() + n));
  pipe->open.erase(pipe->open.begin(), pipe->open.begin() + n);
  pipe->open_bytes -= bytes;
  batch->first_enqueued_ns = batch->records.front().enqueued_ns;
  for (const auto& r : batch->records) {
    batch->first_enqueued_ns = std::min(batch->first_enqueued_ns, r.enqueued_ns);
  }
  batch->producer_id = pipe->producer_id;
  batch->seq = pipe->next_seq++;
  pipe->unacked.push_back(std::move(batch));
}

// --- Sending -----------------------------------------------------------------------------------

Status Producer::Impl::Encode(ProducerBatch* batch) {
  if (!batch->encoded.empty() && batch->encoded_id == batch->producer_id &&
      batch->encoded_seq == batch->seq) {
    return Status::OK();
  }
  log::RecordBatchBuilder builder(
      opts_.compress ? log::format::Codec::kZstd : log::format::Codec::kNone, opts_.zstd_level);
  builder.SetProducer(ProducerId(batch->producer_id), batch->seq);
  // The broker stamps its append time over these.
  const TimestampMs ts = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  for (const auto& r : batch->records) builder.Add(r.partition_key, r.data, ts);
  SLUICE_ASSIGN_OR_RETURN(batch->encoded, builder.Finish());
  batch->encoded_id = batch->producer_id;
  batch->encoded_seq = batch->seq;
  return Status::OK();
}

void Producer::Impl::Service(StreamState* stream, ShardPipe* pipe, int64_t now,
                             std::vector<ProduceJob>* jobs, Completions* done) {
  const bool due =
      flushing_ > 0 || stop_ ||
      (!pipe->open.empty() && now >= pipe->open_since_ns + opts_.linger_ms * 1'000'000);
  while (!pipe->open.empty() && (due || pipe->open_bytes >= opts_.max_batch_bytes ||
                                 pipe->open.size() >= opts_.max_batch_records)) {
    SealOne(pipe);
  }
  // A request unanswered this long means a hung connection: drop it, answers become retries.
  if (opts_.connection.request_timeout_ms > 0) {
    for (const auto& b : pipe->unacked) {
      if (b->in_flight && now - b->sent_ns > opts_.connection.request_timeout_ms * 1'000'000) {
        conn_broken_ = true;
      }
    }
  }
  // Batches waiting too long fail even while nothing can be sent (no connection).
  if (pipe->in_flight == 0 && ExpireFront(pipe, now, done)) pipe->blocked = true;
  if (pipe->blocked && pipe->in_flight == 0 && now >= pipe->retry_at_ns) {
    Recover(stream, pipe, now, done);
  }
  if (pipe->dead || pipe->blocked || jobs == nullptr) return;

  for (auto it = pipe->unacked.begin(); it != pipe->unacked.end(); ++it) {
    if (pipe->in_flight >= opts_.max_in_flight_per_shard) break;
    ProducerBatch* b = it->get();
    // Never more than max_in_flight_per_shard sequences past the oldest unacknowledged batch:
    // if that one is retried (its answer was lost), the broker must still remember it among
    // its last kMaxInFlightPerShard batches, or it would refuse the retry as too old.
    if (b->seq >= pipe->unacked.front()->seq + opts_.max_in_flight_per_shard) break;
    if (b->in_flight) continue;
    if (Status s = Encode(b); !s.ok()) {  // Over the format's limits: cannot ever succeed.
      FailBatch(b, s, done);
      pipe->unacked.erase(it);
      pipe->blocked = pipe->rotate = true;
      return;
    }
    native::ProduceRequest req;
    req.stream = stream->name;
    req.selector.kind = native::ShardSelector::Kind::kShardId;
    req.selector.shard_id = pipe->shard.value();
    req.producer = native::ProducerStamp{b->producer_id, b->seq};
    req.batches.push_back(b->encoded);
    b->in_flight = true;
    b->sent_ns = now;
    if (++b->attempt > 1) ++stats_.retries;
    ++stats_.requests;
    ++pipe->in_flight;
    jobs->push_back({{stream->name, pipe->shard, b->id, b->attempt}, native::EncodeBody(req)});
  }
}

// --- Responses ---------------------------------------------------------------------------------

void Producer::Impl::OnResponse(const ProduceKey& key, Result<native::Frame> response) {
  Completions done;
  {
    MutexLock l(&mu_);
    if (response.ok() && opts_.testing_drop_response &&
        opts_.testing_drop_response(++response_ordinal_)) {
      response = Status::Unavailable("response dropped (testing_drop_response)");
      conn_broken_ = true;
    }
    auto st = streams_.find(key.stream);
    if (st == streams_.end()) return;
    auto pit = st->second.pipes.find(key.shard);
    if (pit == st->second.pipes.end()) return;
    ShardPipe* pipe = &pit->second;
    auto it = std::find_if(pipe->unacked.begin(), pipe->unacked.end(),
                           [&](const auto& b) { return b->id == key.batch_id; });
    if (it == pipe->unacked.end() || (*it)->attempt != key.attempt || !(*it)->in_flight) return;
    ProducerBatch* batch = it->get();
    batch->in_flight = false;
    --pipe->in_flight;

    Status status;
    native::ProduceResult result;
    if (!response.ok()) {
      status = response.status();
    } else if (auto resp = native::DecodeMessage<native::ProduceResponse>(*response); !resp.ok()) {
      status = Status::Unavailable("bad ProduceResponse: " + resp.status().ToString());
    } else if (resp->results.size() != 1) {
      status = Status::Unavailable("ProduceResponse with " + std::to_string(resp->results.size()) +
                                   " results for 1 batch");
    } else {
      result = std::move(resp->results[0]);
      status = native::StatusFromError(result.code, result.message);
    }

    if (status.ok()) {
      Complete(pipe, batch, result, &done);
      pipe->unacked.erase(it);
      pipe->backoff_ms = 0;
    } else {
      batch->last_error = status;
      switch (Classify(status)) {
        case Disposition::kRetry:
          // An out-of-order refusal proves this stamp was never appended; other failures
          // leave it possible (the request may have been appended before the failure).
          batch->maybe_written = !IsOutOfOrder(status);
          break;
        case Disposition::kReroute:
          batch->reroute = true;
          st->second.need_describe = true;
          break;
        case Disposition::kFatal:
          FailBatch(batch, status, &done);
          pipe->unacked.erase(it);
          pipe->rotate = true;
          break;
      }
      pipe->blocked = true;
      pipe->backoff_ms = std::clamp<int64_t>(pipe->backoff_ms * 2,
                                             std::max<int64_t>(1, opts_.retry_backoff_ms), 1000);
      pipe->retry_at_ns = NowNs() + pipe->backoff_ms * 1'000'000;
    }
    Wake();
  }
  Run(&done);
}

void Producer::Impl::Complete(ShardPipe* pipe, ProducerBatch* batch,
                              const native::ProduceResult& result, Completions* done) {
  auto first = broker::ParseSequenceNumber(result.first_sequence);
  for (size_t i = 0; i < batch->records.size(); ++i) {
    ProducerRecord& r = batch->records[i];
    SendResult sent;
    sent.shard = ShardId(result.shard_id);
    if (first.ok()) {
      broker::SequenceNumberParts parts = *first;
      parts.offset = SequenceNumber(parts.offset.value() + i);
      sent.sequence_number = broker::FormatSequenceNumber(parts);
    } else {
      sent.sequence_number = result.first_sequence;
    }
    buffered_bytes_ -= r.bytes();
    done->emplace_back(std::move(r.done), std::move(sent));
  }
  (void)pipe;
  space_cv_.notify_all();
}

void Producer::Impl::FailBatch(ProducerBatch* batch, const Status& status, Completions* done) {
  for (ProducerRecord& r : batch->records) FailRecord(&r, status, done);
  batch->records.clear();
}

void Producer::Impl::FailRecord(ProducerRecord* record, const Status& status, Completions* done) {
  buffered_bytes_ -= record->bytes();
  done->emplace_back(std::move(record->done), status);
  space_cv_.notify_all();
}

// --- Recovery ----------------------------------------------------------------------------------

bool Producer::Impl::ExpireFront(ShardPipe* pipe, int64_t now, Completions* done) {
  const int64_t timeout_ns = opts_.delivery_timeout_ms * 1'000'000;
  bool expired = false;
  while (!pipe->unacked.empty() && now - pipe->unacked.front()->first_enqueued_ns > timeout_ns) {
    ProducerBatch* b = pipe->unacked.front().get();
    Status cause = b->last_error.ok() ? Status::Unavailable("not sent") : b->last_error;
    FailBatch(b,
              cause.WithContext("delivery timed out after " +
                                std::to_string(opts_.delivery_timeout_ms) + " ms"),
              done);
    pipe->unacked.pop_front();
    pipe->rotate = true;  // Its sequence may be what the server expects next.
    expired = true;
  }
  return expired;
}

// Runs on a blocked pipe with nothing in flight, so every batch's fate is settled as far as this
// connection can tell, and any resend starts from the oldest batch.
void Producer::Impl::Recover(StreamState* stream, ShardPipe* pipe, int64_t now, Completions* done) {
  ExpireFront(pipe, now, done);
  if (std::any_of(pipe->unacked.begin(), pipe->unacked.end(),
                  [](const auto& b) { return b->reroute; })) {
    if (stream->need_describe || !stream->router) {  // The sender describes first.
      pipe->retry_at_ns = now + std::max<int64_t>(1, opts_.retry_backoff_ms) * 1'000'000;
      return;
    }
    if (!stream->router->IsOpen(pipe->shard)) {
      // The shard closed (resharding) or vanished: nothing more can land in it, so its
      // records go to the shards that own their keys now, ahead of newer records there.
      std::vector<ProducerRecord> records;
      for (auto& b : pipe->unacked) {
        ++stats_.reroutes;
        for (auto& r : b->records) records.push_back(std::move(r));
      }
      for (auto& r : pipe->open) records.push_back(std::move(r));
      pipe->unacked.clear();
      pipe->open.clear();
      pipe->open_bytes = 0;
      pipe->dead = true;
      Route(stream, std::move(records), /*front=*/true);
      return;
    }
    for (auto& b : pipe->unacked) b->reroute = false;  // Still open: the refusal was transient.
  }

  // After a batch failed for good the server still expects its sequence, so later batches
  // need a fresh producer id. Not while one of them might have been appended under the old
  // one: resend those first (they come back as duplicates or as out-of-order refusals).
  if (pipe->rotate && std::none_of(pipe->unacked.begin(), pipe->unacked.end(),
                                   [](const auto& b) { return b->maybe_written; })) {
    pipe->producer_id = RandomProducerId();
    pipe->next_seq = 0;
    for (auto& b : pipe->unacked) {
      b->producer_id = pipe->producer_id;
      b->seq = pipe->next_seq++;
    }
    pipe->rotate = false;
    ++stats_.id_rotations;
  }
  pipe->blocked = false;
}

}  // namespace sluice::client
