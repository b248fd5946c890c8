// SPDX-License-Identifier: Apache-2.0
#include "broker/engine/shard_owner.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "broker/native_protocol.h"
#include "broker/shard_name.h"
#include "log/record_batch.h"

namespace sluice::broker::engine {
namespace {

using native::ErrorCode;

// Pushes to one subscriber per wake-up before other work gets the loop again.
constexpr int kMaxPushesPerTurn = 16;

// Checks one Produce batch beyond what the log checks (checksums, framing): the producer
// fields agree with the request's stamp, and record keys and values are within limits.
Status ValidateProduceBatch(const log::RecordBatchView& view,
                            const std::optional<native::ProducerStamp>& producer, size_t index,
                            size_t max_record_bytes, std::string* scratch) {
  const log::BatchHeader& h = view.header();
  if (producer) {
    if (h.producer_id.value() != producer->producer_id ||
        h.producer_seq != producer->sequence + index) {
      return Status::InvalidArgument(
          "batch " + std::to_string(index) + " carries producer " +
          std::to_string(h.producer_id.value()) + " sequence " + std::to_string(h.producer_seq) +
          "; the request says producer " + std::to_string(producer->producer_id) + " sequence " +
          std::to_string(producer->sequence + index));
    }
  } else if (h.producer_id.value() != 0) {
    return Status::InvalidArgument("batch " + std::to_string(index) +
                                   " carries a producer id but the request has no producer stamp");
  }
  SLUICE_ASSIGN_OR_RETURN(std::vector<log::Record> records, view.DecodeRecords(scratch));
  for (const log::Record& r : records) {
    if (r.key.empty() || r.key.size() > kMaxPartitionKeyLength) {
      return Status::InvalidArgument("record partition key must have 1.." +
                                     std::to_string(kMaxPartitionKeyLength) + " bytes, got " +
                                     std::to_string(r.key.size()));
    }
    if (r.value.size() > max_record_bytes) {
      return Status::InvalidArgument("record data of " + std::to_string(r.value.size()) +
                                     " bytes exceeds the limit of " +
                                     std::to_string(max_record_bytes));
    }
  }
  return Status::OK();
}

native::ProduceResult ErrorResult(uint32_t shard, const Status& s) {
  native::ProduceResult r;
  r.code = native::ErrorCodeFromStatus(s);
  r.shard_id = shard;
  r.message = s.message();
  return r;
}

}  // namespace

ShardOwner::ShardOwner(Context ctx, std::shared_ptr<Shard> shard, std::string stream_name,
                       uint64_t stream_id)
    : ctx_(ctx),
      shard_(std::move(shard)),
      stream_name_(std::move(stream_name)),
      stream_id_(stream_id),
      relay_(std::make_shared<VisibleRelay>()) {
  init_status_ = producers_.Rebuild(shard_->log());
}

std::shared_ptr<ShardOwner> ShardOwner::Create(Context ctx, std::shared_ptr<Shard> shard,
                                               std::string stream_name, uint64_t stream_id) {
  std::shared_ptr<ShardOwner> owner(
      new ShardOwner(ctx, std::move(shard), std::move(stream_name), stream_id));
  if (owner->init_status_.ok()) owner->Attach();
  return owner;
}

void ShardOwner::Attach() {
  relay_->reactor = ctx_.reactor;
  relay_->on_visible = [w = weak_from_this()] {
    if (auto self = w.lock()) self->OnVisible();
  };
  std::weak_ptr<VisibleRelay> weak = relay_;
  shard_->log().OnVisible([weak](VisibleWatermark) {
    std::shared_ptr<VisibleRelay> relay = weak.lock();
    if (!relay) return;
    std::lock_guard<std::mutex> l(relay->mu);
    if (relay->reactor != nullptr) relay->reactor->Post(relay->on_visible);
  });
}

ShardOwner::~ShardOwner() { Detach(); }

void ShardOwner::Detach() {
  if (relay_->reactor == nullptr) return;  // Never attached, or detached already.
  shard_->log().OnVisible(nullptr);
  std::lock_guard<std::mutex> l(relay_->mu);
  relay_->reactor = nullptr;
}

void ShardOwner::Retire(const Status& why) {
  Detach();
  for (std::unique_ptr<ProduceJob>& job : pending_) job->reply.Error(why);
  pending_.clear();
  // Subscribers hear why their stream ended (a final Error frame under their correlation id).
  for (Subscription& sub : subscriptions_) sub.reply.Error(why);
  Drain();
}

// --- Produce -----------------------------------------------------------------------------

void ShardOwner::Produce(std::unique_ptr<ProduceJob> job) {
  pending_.push_back(std::move(job));
  if (!flush_scheduled_) {
    flush_scheduled_ = true;
    ctx_.reactor->AtIterationEnd([w = weak_from_this()] {
      if (auto self = w.lock()) self->FlushAppends();
    });
  }
}

// Produce requests on their way through the log: checked and deduplicated on the reactor
// (FlushAppends), appended on the blocking pool, answered on the reactor (FinishFlush).
struct ShardOwner::Flush {
  std::vector<std::unique_ptr<ProduceJob>> jobs;
  std::vector<std::vector<native::ProduceResult>> results;  // Per job, per batch.
  // What goes to the log, and which (job, batch) each appended batch answers.
  struct Slot {
    size_t job, batch;
    ProducerId producer;
    uint64_t seq;
  };
  std::vector<std::span<const std::byte>> to_append;  // Into the jobs' batches.
  std::vector<Slot> slots;
  // A retry of a batch queued in this same flush answers with that batch's result.
  struct Copy {
    size_t job, batch, slot;
  };
  std::vector<Copy> copies;
  std::vector<Result<log::AppendResult>> appended;  // Filled by the append.
};

// At most one flush per shard is in the log at a time: producer state must record a flush's
// batches before the next flush is checked against it. Requests arriving meanwhile wait in
// pending_ and form the next, larger group.
void ShardOwner::FlushAppends() {
  flush_scheduled_ = false;
  if (append_in_flight_ || pending_.empty()) return;
  auto flush = std::make_shared<Flush>();
  flush->jobs.swap(pending_);
  std::vector<std::unique_ptr<ProduceJob>>& jobs = flush->jobs;
  std::vector<std::vector<native::ProduceResult>>& results = flush->results;
  results.resize(jobs.size());
  using Slot = Flush::Slot;
  std::vector<std::span<const std::byte>>& to_append = flush->to_append;
  std::vector<Slot>& slots = flush->slots;
  std::vector<Flush::Copy>& copies = flush->copies;
  const uint32_t shard_id = shard_->id().value();
  // Per producer, the run of sequences queued in this flush: (first seq, slot indexes).
  std::unordered_map<uint64_t, std::pair<uint64_t, std::vector<size_t>>> queued;
  std::string scratch;

  for (size_t j = 0; j < jobs.size(); ++j) {
    const native::ProduceRequest& req = jobs[j]->request;
    results[j].resize(req.batches.size());
    for (size_t i = 0; i < req.batches.size(); ++i) {
      const std::span<const std::byte> bytes = log::AsBytes(req.batches[i]);
      Result<log::RecordBatchView> view = log::RecordBatchView::Parse(bytes);
      Status valid =
          view.ok() ? ValidateProduceBatch(*view, req.producer, i, ctx_.max_record_bytes, &scratch)
                    : view.status();
      if (!valid.ok()) {
        results[j][i] = ErrorResult(shard_id, valid);
        continue;
      }
      if (!req.producer) {
        slots.push_back({j, i, ProducerId(), 0});
        to_append.push_back(bytes);
        continue;
      }
      const ProducerId pid(req.producer->producer_id);
      const uint64_t seq = req.producer->sequence + i;
      auto run = queued.find(pid.value());
      if (run != queued.end()) {
        auto& [first, run_slots] = run->second;
        const uint64_t expected = first + run_slots.size();
        if (seq == expected) {
          run_slots.push_back(slots.size());
          slots.push_back({j, i, pid, seq});
          to_append.push_back(bytes);
          continue;
        }
        if (seq >= first && seq < expected) {
          copies.push_back({j, i, run_slots[seq - first]});
          continue;
        }
        if (seq > expected) {
          results[j][i] =
              ErrorResult(shard_id, Status::InvalidArgument("out of order sequence: expected " +
                                                            std::to_string(expected) + ", got " +
                                                            std::to_string(seq) + " for producer " +
                                                            std::to_string(pid.value())));
          continue;
        }
        // seq < first: an older batch; the table decides below.
      }
      ProducerStateTable::Decision d = producers_.Check(pid, seq);
      if (d.verdict == ProducerStateTable::Verdict::kAppend && run == queued.end()) {
        queued[pid.value()] = {seq, {slots.size()}};
        slots.push_back({j, i, pid, seq});
        to_append.push_back(bytes);
      } else if (d.verdict == ProducerStateTable::Verdict::kDuplicate) {
        results[j][i] = native::ProduceResult{ErrorCode::kOk, shard_id,
                                              shard_->SequenceNumberOf(d.original.base),
                                              shard_->SequenceNumberOf(d.original.last), ""};
      } else {
        results[j][i] = ErrorResult(
            shard_id, d.error.ok()
                          ? Status::InvalidArgument("out of order sequence " + std::to_string(seq))
                          : d.error);
      }
    }
  }

  if (to_append.empty() || ctx_.pool == nullptr) {
    if (!to_append.empty()) flush->appended = shard_->AppendBatches(to_append);
    FinishFlush(*flush);
    return;
  }
  append_in_flight_ = true;
  // The owner stays alive until its flush is answered, even if it is retired meanwhile.
  ctx_.pool->Submit([self = shared_from_this(), flush] {
    flush->appended = self->shard_->AppendBatches(flush->to_append);
    self->ctx_.reactor->Post([self, flush] {
      self->append_in_flight_ = false;
      self->FinishFlush(*flush);
      self->FlushAppends();  // Whatever arrived meanwhile.
    });
  });
}

void ShardOwner::FinishFlush(Flush& flush) {
  const uint32_t shard_id = shard_->id().value();
  std::vector<std::vector<native::ProduceResult>>& results = flush.results;
  const std::vector<Flush::Slot>& slots = flush.slots;
  const std::vector<Result<log::AppendResult>>& appended = flush.appended;
  for (size_t k = 0; k < slots.size(); ++k) {
    const Flush::Slot& s = slots[k];
    if (!appended[k].ok()) {
      Status st = appended[k].status();
      if (st.code() == Status::Code::kAborted) {
        st = Status::Aborted("shard " + ShardName(shard_->id()) + " of stream " + stream_name_ +
                             " is closed (resharded or deleted): " + std::string(st.message()));
      }
      results[s.job][s.batch] = ErrorResult(shard_id, st);
      continue;
    }
    const log::AppendResult& a = *appended[k];
    results[s.job][s.batch] =
        native::ProduceResult{ErrorCode::kOk, shard_id, shard_->SequenceNumberOf(a.base),
                              shard_->SequenceNumberOf(a.last), ""};
    if (s.producer.value() != 0) producers_.Record(s.producer, s.seq, {a.base, a.last});
  }
  for (const Flush::Copy& c : flush.copies) {
    results[c.job][c.batch] = results[slots[c.slot].job][slots[c.slot].batch];
  }

  const SteadyTime now = std::chrono::steady_clock::now();
  for (size_t j = 0; j < flush.jobs.size(); ++j) {
    ProduceJob& job = *flush.jobs[j];
    uint64_t records = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < job.request.batches.size(); ++i) {
      if (results[j][i].code != ErrorCode::kOk) continue;
      bytes += job.request.batches[i].size();
      if (auto h = log::PeekBatchHeader(log::AsBytes(job.request.batches[i])); h.ok()) {
        records += h->record_count;
      }
    }
    if (ctx_.observer != nullptr && bytes > 0) {
      ctx_.observer->OnAppend(
          stream_name_, shard_id, job.request.batches.size(), records, bytes,
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - job.arrival).count());
    }
    native::ProduceResponse response{std::move(results[j])};
    job.reply.Send(native::EncodeMessage(response, job.reply.correlation_id));
  }
}

// --- Reads ---------------------------------------------------------------------------------

std::optional<ShardOwner::Built> ShardOwner::BuildFetch(const Stream& stream, uint64_t offset,
                                                        uint32_t max_bytes) {
  replication::ReplicatedLog& log = shard_->log();
  Built out;
  native::FetchResponse resp;
  uint64_t records = 0;
  SequenceNumber from(std::max(offset, log.start().value()));
  if (from > log.next_offset()) {
    out.error = Status::InvalidArgument(
        "offset " + std::to_string(offset) + " is beyond the end (" +
        std::to_string(log.next_offset().value()) + ") of shard " + ShardName(shard_->id()));
    return out;
  }
  const log::ReadOptions read_options{.max_bytes = std::max<uint32_t>(max_bytes, 1)};
  SequenceNumber cur = from;
  TimestampMs last_ts = 0;
  if (from < SequenceNumber(log.visible().value())) {
    Result<log::ReadResult> read = log.Read(from, read_options);
    if (!read.ok() && read.status().IsNotFound()) {  // Trimmed meanwhile: from the new start.
      from = log.start();
      read = log.Read(from, read_options);
    }
    if (!read.ok()) {
      out.error = read.status();
      return out;
    }
    for (const log::RecordBatchView& b : read->Batches()) {
      records += b.header().record_count;
      last_ts = b.header().max_timestamp;
    }
    cur = std::max(read->next, from);
    resp.batches = std::move(read->bytes);
  }
  // At the end of the data, whether the shard has closed since `stream` was taken matters:
  // look at the broker's current metadata (a lock, but only for readers that caught up).
  const Stream* current = &stream;
  std::shared_ptr<const Stream> fresh;
  if (cur >= shard_->next_offset()) {
    Result<std::shared_ptr<const Stream>> latest = ctx_.broker->GetStream(stream_name_);
    if (latest.ok() && (*latest)->meta().id.value() == stream_id_) {
      fresh = std::move(latest).value();
      current = fresh.get();
    }
  }
  const ShardMetadata* meta = current->meta().FindShard(shard_->id());
  out.exhausted = meta != nullptr && !meta->open() && cur >= shard_->next_offset();
  if (resp.batches.empty() && !out.exhausted) return std::nullopt;
  if (!out.exhausted) {
    resp.next_iterator = ctx_.broker->iterator_codec().Issue(
        IteratorPosition{stream_name_, shard_->id(), stream_id_, cur});
  } else {
    for (const ShardMetadata& s : current->meta().shards) {
      if (s.parent == shard_->id() || s.adjacent_parent == shard_->id()) {
        resp.child_shards.push_back(s.id.value());
      }
    }
  }
  const uint64_t visible = log.visible().value();
  if (cur.value() < visible && last_ts > 0) {
    resp.millis_behind_latest = static_cast<uint64_t>(
        std::max<int64_t>(0, ctx_.broker->options().clock->NowMs() - last_ts));
  }
  if (ctx_.observer != nullptr) {
    ctx_.observer->OnRead(stream_name_, shard_->id().value(), records, resp.batches.size());
    ctx_.observer->OnLag(stream_name_, shard_->id().value(),
                         visible > cur.value() ? visible - cur.value() : 0);
  }
  out.next = cur.value();
  out.body = native::EncodeBody(resp);
  return out;
}

void ShardOwner::SendBuilt(const ReplyTo& reply, const Built& built, uint8_t flags) {
  if (!built.error.ok()) {
    reply.Error(built.error);
    return;
  }
  reply.Send(native::EncodeFrame(native::FrameType::kFetchResponse, flags, reply.correlation_id,
                                 built.body));
}

void ShardOwner::AnswerFetch(FetchJob& job) {
  std::optional<Built> built = BuildFetch(*job.stream, job.offset, job.max_bytes);
  if (!built) {
    // Nothing yet and the caller will not wait (longer): an empty answer that resumes here.
    native::FetchResponse empty;
    empty.next_iterator = ctx_.broker->iterator_codec().Issue(
        IteratorPosition{stream_name_, shard_->id(), stream_id_,
                         SequenceNumber(std::max(job.offset, shard_->log().start().value()))});
    built = Built{Status::OK(), native::EncodeBody(empty), job.offset, false};
  }
  SendBuilt(job.reply, *built, 0);
}

void ShardOwner::Fetch(std::unique_ptr<FetchJob> job) {
  if (job->max_wait_ms == 0 || draining_) {
    AnswerFetch(*job);
    return;
  }
  std::optional<Built> built = BuildFetch(*job->stream, job->offset, job->max_bytes);
  if (built) {
    SendBuilt(job->reply, *built, 0);
    return;
  }
  const SteadyTime deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(job->max_wait_ms);
  waiters_.push_back(Waiter{std::move(job), deadline});
  ctx_.reactor->RunAt(deadline, [w = weak_from_this()] {
    if (auto self = w.lock()) self->ExpireWaiters();
  });
}

void ShardOwner::ExpireWaiters() {
  const SteadyTime now = std::chrono::steady_clock::now();
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->deadline <= now) {
      AnswerFetch(*it->job);
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
}

void ShardOwner::Subscribe(std::unique_ptr<SubscribeJob> job) {
  job->reply.Send(native::EncodeMessage(native::Ack{}, job->reply.correlation_id));
  ReplyTo reply = job->reply;
  reply.reserved = 0;         // Released with the Ack.
  reply.in_flight = nullptr;  // The request ended with the Ack.
  subscriptions_.push_back(
      Subscription{std::move(reply), std::move(job->stream), job->offset, job->max_bytes_per_push});
  PushSubscriptions();
  ScheduleSubscriptionTick();
}

// Sealing a shard (resharding) makes no record visible, so subscribers waiting at its end
// would never hear of it: while any subscription exists, look again every second.
void ShardOwner::ScheduleSubscriptionTick() {
  if (tick_scheduled_ || subscriptions_.empty()) return;
  tick_scheduled_ = true;
  ctx_.reactor->RunAt(std::chrono::steady_clock::now() + std::chrono::seconds(1),
                      [w = weak_from_this()] {
                        auto self = w.lock();
                        if (!self) return;
                        self->tick_scheduled_ = false;
                        self->PushSubscriptions();
                        self->ScheduleSubscriptionTick();
                      });
}

void ShardOwner::OnVisible() {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    FetchJob& job = *it->job;
    if (std::optional<Built> built = BuildFetch(*job.stream, job.offset, job.max_bytes)) {
      SendBuilt(job.reply, *built, 0);
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  PushSubscriptions();
}

void ShardOwner::PushSubscriptions() {
  bool more_later = false;
  for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
    std::shared_ptr<Connection> conn = it->reply.conn.lock();
    if (!conn || conn->closed()) {
      EndSubscription(it->reply);
      it = subscriptions_.erase(it);
      continue;
    }
    bool ended = false;
    for (int n = 0; n < kMaxPushesPerTurn; ++n) {
      // Back-pressure: leave the rest in the log until the subscriber's connection drains
      // (Connection::OnDrained → Resume()). Ask for that signal, then look again: the
      // connection may have drained in between and would not signal.
      if (conn->queued() > conn->max_queued() / 2) {
        conn->WantDrainSignal();
        if (conn->queued() > conn->max_queued() / 2) break;
      }
      std::optional<Built> built = BuildFetch(*it->stream, it->next, it->max_bytes);
      if (!built) break;
      ended = !built->error.ok() || built->exhausted;
      SendBuilt(it->reply, *built, ended ? 0 : native::kFlagMore);
      it->next = built->next;
      if (ended) break;
      if (n + 1 == kMaxPushesPerTurn) more_later = true;
    }
    if (ended) {
      EndSubscription(it->reply);
      it = subscriptions_.erase(it);
    } else {
      ++it;
    }
  }
  if (more_later) {
    ctx_.reactor->Post([w = weak_from_this()] {
      if (auto self = w.lock()) self->PushSubscriptions();
    });
  }
}

void ShardOwner::Drain() {
  draining_ = true;
  for (Waiter& w : waiters_) AnswerFetch(*w.job);
  waiters_.clear();
  for (Subscription& sub : subscriptions_) EndSubscription(sub.reply);
  subscriptions_.clear();
}

void EndSubscription(const ReplyTo& reply) {
  reply.reactor->Post([conn = reply.conn] {
    if (std::shared_ptr<Connection> c = conn.lock()) c->active_waits--;
  });
}

}  // namespace sluice::broker::engine
