// SPDX-License-Identifier: Apache-2.0
// Producer: the public calls and the sender thread (connection, describes, sends). The
// per-shard rules (sealing, responses, recovery) are in producer_pipe.cc.
#include "broker/client/producer.h"

#include <algorithm>
#include <utility>

#include "broker/broker_types.h"
#include "broker/client/admin.h"
#include "broker/client/producer_impl.h"
#include "broker/hash_key.h"

namespace sluice::client {
namespace {

Status ValidateRecord(const ProducerOptions& opts, std::string_view stream,
                      std::string_view partition_key, std::string_view data,
                      std::optional<std::string_view> explicit_hash_key) {
  if (stream.empty()) return Status::InvalidArgument("stream name is empty");
  if (partition_key.empty() || partition_key.size() > broker::kMaxPartitionKeyLength) {
    return Status::InvalidArgument("partition key must be 1.." +
                                   std::to_string(broker::kMaxPartitionKeyLength) + " bytes, got " +
                                   std::to_string(partition_key.size()));
  }
  if (data.size() > opts.max_record_bytes) {
    return Status::InvalidArgument("record data of " + std::to_string(data.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(opts.max_record_bytes));
  }
  if (explicit_hash_key) SLUICE_TRY(broker::ParseExplicitHashKey(*explicit_hash_key));
  return Status::OK();
}

}  // namespace

// --- Producer --------------------------------------------------------------------------------

Result<std::unique_ptr<Producer>> Producer::Open(ProducerOptions options) {
  if (options.producer_id == 0) options.producer_id = RandomProducerId();
  // The broker remembers the last ProducerStateTable window batches per producer and shard; a
  // retried batch must still be among them (see the send loop), so in flight stays below it.
  options.max_in_flight_per_shard =
      std::clamp<size_t>(options.max_in_flight_per_shard, 1, kMaxInFlightPerShard);
  options.max_batch_records = std::max<size_t>(1, options.max_batch_records);
  SLUICE_ASSIGN_OR_RETURN(auto conn, Connection::Open(options.connection));
  auto impl = std::make_unique<Impl>(std::move(options), std::move(conn));
  return std::unique_ptr<Producer>(new Producer(std::move(impl)));
}

Producer::Producer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)), producer_id_(impl_->producer_id()) {}

Producer::~Producer() { impl_->Close(); }

std::future<Result<SendResult>> Producer::Send(std::string_view stream,
                                               std::string_view partition_key,
                                               std::string_view data,
                                               std::optional<std::string_view> explicit_hash_key) {
  auto promise = std::make_shared<std::promise<Result<SendResult>>>();
  auto future = promise->get_future();
  impl_->Send(stream, partition_key, data, explicit_hash_key,
              [promise](Result<SendResult> r) { promise->set_value(std::move(r)); });
  return future;
}

void Producer::Send(std::string_view stream, std::string_view partition_key, std::string_view data,
                    std::optional<std::string_view> explicit_hash_key, SendCallback done) {
  impl_->Send(stream, partition_key, data, explicit_hash_key, std::move(done));
}

void Producer::Flush() { impl_->Flush(); }
void Producer::Close() { impl_->Close(); }
Producer::Stats Producer::stats() const { return impl_->stats(); }

// --- Impl: public calls ------------------------------------------------------------------------

Producer::Impl::Impl(ProducerOptions options, std::unique_ptr<Connection> conn)
    : opts_(std::move(options)), conn_(std::move(conn)) {
  sender_ = std::thread([this] { SenderLoop(); });
}

Producer::Impl::~Impl() { Close(); }

int64_t Producer::Impl::NowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Producer::Impl::Wake() {
  dirty_ = true;
  cv_.notify_one();
}

void Producer::Impl::WaitLocked(int64_t deadline_ns) NO_THREAD_SAFETY_ANALYSIS {
  std::unique_lock<std::mutex> lk(mu_.native(), std::adopt_lock);
  if (deadline_ns == 0) {
    cv_.wait(lk);
  } else {
    cv_.wait_until(lk,
                   std::chrono::steady_clock::time_point(std::chrono::nanoseconds(deadline_ns)));
  }
  lk.release();
}

void Producer::Impl::Send(std::string_view stream, std::string_view partition_key,
                          std::string_view data, std::optional<std::string_view> explicit_hash_key,
                          SendCallback done) {
  if (Status s = ValidateRecord(opts_, stream, partition_key, data, explicit_hash_key); !s.ok()) {
    done(std::move(s));
    return;
  }
  ProducerRecord rec;
  rec.partition_key = std::string(partition_key);
  rec.data = std::string(data);
  if (explicit_hash_key) rec.explicit_hash_key = std::string(*explicit_hash_key);
  rec.done = std::move(done);
  {
    MutexLock l(&mu_);
    // A callback that sends must not wait for space its own thread would free.
    if (!InProducerCallback()) {
      std::unique_lock<std::mutex> lk(mu_.native(), std::adopt_lock);
      space_cv_.wait(lk, [&]() NO_THREAD_SAFETY_ANALYSIS {
        return closed_ || buffered_bytes_ == 0 ||
               buffered_bytes_ + rec.bytes() <= opts_.max_buffered_bytes;
      });
      lk.release();
    }
    if (!closed_) {
      const int64_t now = NowNs();
      rec.enqueued_ns = now;
      buffered_bytes_ += rec.bytes();
      ++outstanding_;
      auto it = streams_.find(stream);
      if (it == streams_.end()) {
        it = streams_.emplace(std::string(stream), StreamState{}).first;
        it->second.name = std::string(stream);
      }
      StreamState& st = it->second;
      if (st.need_describe || !st.router) {
        st.unrouted.push_back(std::move(rec));
        Wake();
      } else {
        std::vector<ProducerRecord> one;
        one.push_back(std::move(rec));
        Route(&st, std::move(one), /*front=*/false);
      }
      return;
    }
  }
  rec.done(Status::Aborted("producer is closed"));
}

void Producer::Impl::Flush() {
  MutexLock l(&mu_);
  ++flushing_;
  Wake();
  std::unique_lock<std::mutex> lk(mu_.native(), std::adopt_lock);
  space_cv_.wait(lk, [&]() NO_THREAD_SAFETY_ANALYSIS { return outstanding_ == 0; });
  lk.release();
  --flushing_;
}

void Producer::Impl::Close() {
  std::call_once(close_once_, [this] {
    {
      MutexLock l(&mu_);
      closed_ = true;
      space_cv_.notify_all();
    }
    Flush();
    {
      MutexLock l(&mu_);
      stop_ = true;
      Wake();
    }
    sender_.join();
    if (conn_) conn_->Close();
  });
}

Producer::Stats Producer::Impl::stats() const {
  MutexLock l(&mu_);
  return stats_;
}

// --- Impl: the sender thread -------------------------------------------------------------------

void Producer::Impl::SenderLoop() {
  mu_.Lock();
  for (;;) {
    dirty_ = false;
    const int64_t now = NowNs();
    if (stop_ && outstanding_ == 0) break;
    if (!conn_broken_ && (conn_ == nullptr || !conn_->is_open())) conn_broken_ = true;
    if (conn_broken_ && now >= reconnect_at_ns_) Reconnect();

    Completions done;
    for (auto& [name, st] : streams_) {
      if (conn_broken_) break;
      bool reroute_pending = std::any_of(st.pipes.begin(), st.pipes.end(), [](const auto& p) {
        return std::any_of(p.second.unacked.begin(), p.second.unacked.end(),
                           [](const auto& b) { return b->reroute; });
      });
      if (st.need_describe && (!st.unrouted.empty() || reroute_pending) &&
          now >= st.describe_at_ns) {
        Describe(&st, &done);
      }
    }
    std::vector<ProduceJob> jobs;
    for (auto& [name, st] : streams_) {
      ExpireUnrouted(&st, now, &done);
      for (auto it = st.pipes.begin(); it != st.pipes.end();) {
        Service(&st, &it->second, now, conn_broken_ ? nullptr : &jobs, &done);
        it = it->second.dead ? st.pipes.erase(it) : std::next(it);
      }
    }
    if (!jobs.empty()) SendJobs(std::move(jobs));
    if (!done.empty()) {
      mu_.Unlock();
      Run(&done);
      mu_.Lock();
      continue;
    }
    if (dirty_) continue;
    WaitLocked(NextDeadline(NowNs()));
  }
  mu_.Unlock();
}

void Producer::Impl::Reconnect() {
  std::unique_ptr<Connection> old = std::move(conn_);
  const bool had = old != nullptr;
  mu_.Unlock();
  // Closing fails the old connection's pending requests: their callbacks take mu_.
  if (old) old->Close();
  old.reset();
  auto conn = Connection::Open(opts_.connection);
  mu_.Lock();
  if (conn.ok()) {
    conn_ = std::move(conn).value();
    conn_broken_ = false;
    reconnect_backoff_ms_ = 0;
    if (had) ++stats_.reconnects;
    return;
  }
  reconnect_backoff_ms_ = std::clamp<int64_t>(reconnect_backoff_ms_ * 2,
                                              std::max<int64_t>(1, opts_.retry_backoff_ms), 1000);
  reconnect_at_ns_ = NowNs() + reconnect_backoff_ms_ * 1'000'000;
}

void Producer::Impl::Describe(StreamState* stream, Completions* done) {
  const std::string name = stream->name;
  Connection* conn = conn_.get();
  mu_.Unlock();
  auto desc = Admin(conn).DescribeStream(name);
  Result<ShardRouter> router =
      desc.ok() ? ShardRouter::FromDescription(*desc) : Result<ShardRouter>(desc.status());
  mu_.Lock();
  if (router.ok()) {
    stream->router = std::move(router).value();
    stream->need_describe = false;
    std::vector<ProducerRecord> waiting = std::move(stream->unrouted);
    stream->unrouted.clear();
    Route(stream, std::move(waiting), /*front=*/false);
    return;
  }
  if (router.status().IsNotFound()) {
    FailStream(stream, router.status(), done);
    return;
  }
  if (!conn->is_open()) conn_broken_ = true;
  stream->describe_at_ns = NowNs() + std::max<int64_t>(1, opts_.retry_backoff_ms) * 1'000'000;
}

void Producer::Impl::SendJobs(std::vector<ProduceJob> jobs) {
  Connection* conn = conn_.get();
  mu_.Unlock();
  for (ProduceJob& job : jobs) {
    ProduceKey key = job.key;
    auto sent =
        conn->CallAsync(native::FrameType::kProduce, job.body,
                        [this, key](Result<native::Frame> r) { OnResponse(key, std::move(r)); });
    if (!sent.ok()) OnResponse(key, sent.status());
  }
  mu_.Lock();
}

int64_t Producer::Impl::NextDeadline(int64_t now) {
  const int64_t linger_ns = opts_.linger_ms * 1'000'000;
  int64_t next = INT64_MAX;
  if (conn_broken_) next = std::min(next, reconnect_at_ns_);
  for (auto& [name, st] : streams_) {
    if (st.need_describe && !st.unrouted.empty()) next = std::min(next, st.describe_at_ns);
    for (auto& [shard, pipe] : st.pipes) {
      if (!pipe.open.empty()) next = std::min(next, pipe.open_since_ns + linger_ns);
      if (pipe.blocked && pipe.in_flight == 0) next = std::min(next, pipe.retry_at_ns);
    }
  }
  // Timeouts (delivery, unanswered requests) are checked at least once a second.
  if (outstanding_ > 0) next = std::min(next, now + 1'000'000'000);
  if (next == INT64_MAX) return 0;
  return std::max(next, now + 1);
}

void Producer::Impl::FailStream(StreamState* stream, const Status& status, Completions* done) {
  for (ProducerRecord& r : stream->unrouted) FailRecord(&r, status, done);
  stream->unrouted.clear();
  for (auto& [shard, pipe] : stream->pipes) {
    for (ProducerRecord& r : pipe.open) FailRecord(&r, status, done);
    pipe.open.clear();
    pipe.open_bytes = 0;
    // Batches in flight come back (NotFound) and are failed then.
    for (auto it = pipe.unacked.begin(); it != pipe.unacked.end();) {
      if ((*it)->in_flight) {
        ++it;
        continue;
      }
      FailBatch(it->get(), status, done);
      it = pipe.unacked.erase(it);
    }
    if (pipe.in_flight == 0) pipe.dead = true;
  }
  stream->router.reset();
  stream->need_describe = true;
}

void Producer::Impl::ExpireUnrouted(StreamState* stream, int64_t now, Completions* done) {
  const int64_t timeout_ns = opts_.delivery_timeout_ms * 1'000'000;
  auto& recs = stream->unrouted;
  auto keep = recs.begin();
  for (auto& r : recs) {
    if (now - r.enqueued_ns > timeout_ns) {
      FailRecord(&r,
                 Status::Unavailable("delivery timed out: stream " + stream->name +
                                     " could not be described"),
                 done);
    } else {
      *keep++ = std::move(r);
    }
  }
  recs.erase(keep, recs.end());
}

}  // namespace sluice::client
