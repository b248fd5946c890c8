// SPDX-License-Identifier: Apache-2.0
#include "broker/client/subscription.h"

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "broker/native_records.h"

namespace sluice::client {

struct Subscription::Shared : std::enable_shared_from_this<Shared> {
  std::string stream;
  SubscribeOptions opts;
  SubscribeHandlers handlers;
  Connection* conn = nullptr;  // Owned by the Subscription; open while callbacks run.

  std::mutex mu;
  std::condition_variable cv;
  std::map<uint32_t, broker::ShardGeneration> generations;
  std::set<ShardId> subscribed;  // Shards whose subscription is started or about to be.
  std::set<ShardId> started;
  std::set<ShardId> acked;
  std::map<ShardId, Status> ended;
  std::map<ShardId, SequenceNumber> next_offset;  // Per shard: records below were delivered.
  bool stopped = false;

  // Subscribes to `shard` (once). Send errors end it at once.
  void Subscribe(ShardId shard, const StartingPosition& from) {
    broker::ShardGeneration gen;
    {
      std::lock_guard<std::mutex> l(mu);
      if (stopped || !started.insert(shard).second) return;
      subscribed.insert(shard);
      next_offset[shard] = FirstOffset(from, shard);
      gen = generations.at(shard.value());
    }
    native::SubscribeRequest req;
    req.stream = stream;
    req.shard_id = shard.value();
    req.position = from;
    req.max_bytes_per_push = opts.max_bytes_per_push;
    auto self = shared_from_this();
    auto sent = conn->CallStream(req.kType, native::EncodeBody(req),
                                 [self, shard, gen](Result<native::Frame> frame) {
                                   return self->OnFrame(shard, gen, std::move(frame));
                                 });
    if (!sent.ok()) End(shard, sent.status(), {});
  }

  // One frame of `shard`'s stream; returns whether more are expected.
  bool OnFrame(ShardId shard, broker::ShardGeneration gen, Result<native::Frame> frame) {
    if (!frame.ok()) {
      End(shard, frame.status(), {});
      return false;
    }
    if (frame->header.type == native::FrameType::kAck) {
      std::lock_guard<std::mutex> l(mu);
      acked.insert(shard);
      cv.notify_all();
      return true;
    }
    auto push = native::DecodeMessage<native::FetchResponse>(*frame);
    if (!push.ok()) {
      End(shard, Status::Corruption("bad Subscribe push: " + push.status().ToString()), {});
      return false;
    }
    std::vector<ReadRecord> records;
    SequenceNumber from;
    {
      std::lock_guard<std::mutex> l(mu);
      from = next_offset[shard];
    }
    auto next = DecodeFetchedRecords(push->batches, shard, gen, from, &records);
    if (!next.ok()) {
      End(shard, next.status(), {});
      return false;
    }
    {
      std::lock_guard<std::mutex> l(mu);
      next_offset[shard] = *next;
    }
    if (!IsStopped()) {
      if (handlers.on_batch) {
        handlers.on_batch(shard, records, push->millis_behind_latest);
      } else if (handlers.on_record) {
        for (const ReadRecord& r : records) handlers.on_record(r);
      }
    }
    if (push->next_iterator.empty()) {  // Closed and drained.
      std::vector<ShardId> children;
      for (uint32_t c : push->child_shards) children.push_back(ShardId(c));
      if (opts.follow_children) {  // Counted before the parent ends, for WaitUntilEnded.
        std::lock_guard<std::mutex> l(mu);
        subscribed.insert(children.begin(), children.end());
      }
      End(shard, Status::OK(), children);
      if (opts.follow_children && !children.empty()) FollowChildren(children);
      return false;
    }
    if ((frame->header.flags & native::kFlagMore) == 0) {
      End(shard, Status::Unavailable("the server ended the subscription"), {});
      return false;
    }
    return true;
  }

  // Runs on the connection's thread, so it must not wait for a response: describes
  // asynchronously when a child's generation is unknown.
  void FollowChildren(const std::vector<ShardId>& children) {
    bool known = true;
    {
      std::lock_guard<std::mutex> l(mu);
      for (ShardId c : children) known = known && generations.count(c.value()) != 0;
    }
    if (known) {
      for (ShardId c : children) Subscribe(c, StartingPosition{});
      return;
    }
    native::DescribeStreamRequest req;
    req.stream = stream;
    auto self = shared_from_this();
    auto sent = conn->CallAsync(
        req.kType, native::EncodeBody(req), [self, children](Result<native::Frame> frame) {
          Status s = frame.status();
          if (s.ok()) {
            auto desc = native::DecodeMessage<native::DescribeStreamResponse>(*frame);
            s = desc.status();
            if (s.ok()) s = self->Learn(*desc);
          }
          for (ShardId c : children) {
            if (s.ok()) {
              self->Subscribe(c, StartingPosition{});
            } else {
              self->End(c, s.WithContext("describe for child shard"), {});
            }
          }
        });
    if (!sent.ok()) {
      for (ShardId c : children) End(c, sent.status(), {});
    }
  }

  Status Learn(const StreamDescription& desc) {
    std::lock_guard<std::mutex> l(mu);
    for (const ShardDescription& s : desc.shards) {
      SLUICE_ASSIGN_OR_RETURN(generations[s.shard_id], ShardGenerationOf(s));
    }
    return Status::OK();
  }

  void End(ShardId shard, const Status& status, const std::vector<ShardId>& children) {
    bool first;
    bool stopped_now;
    {
      std::lock_guard<std::mutex> l(mu);
      subscribed.insert(shard);
      first = ended.emplace(shard, status).second;
      stopped_now = stopped;
      cv.notify_all();
    }
    if (first && !stopped_now && handlers.on_end) handlers.on_end(shard, status, children);
  }

  bool IsStopped() {
    std::lock_guard<std::mutex> l(mu);
    return stopped;
  }
};

Subscription::Subscription(std::shared_ptr<Shared> shared, std::unique_ptr<Connection> conn)
    : shared_(std::move(shared)), conn_(std::move(conn)) {}

Subscription::~Subscription() { Stop(); }

Result<std::unique_ptr<Subscription>> Subscription::Start(ConnectionOptions connection,
                                                          std::string stream, ShardId shard,
                                                          SubscribeOptions options,
                                                          SubscribeHandlers handlers) {
  const int64_t timeout_ms = connection.request_timeout_ms;
  SLUICE_ASSIGN_OR_RETURN(auto conn, Connection::Open(std::move(connection)));
  SLUICE_ASSIGN_OR_RETURN(StreamDescription desc, Admin(conn.get()).DescribeStream(stream));
  auto shared = std::make_shared<Shared>();
  shared->stream = std::move(stream);
  shared->opts = std::move(options);
  shared->handlers = std::move(handlers);
  shared->conn = conn.get();
  SLUICE_TRY(shared->Learn(desc));
  if (shared->generations.count(shard.value()) == 0) {
    return Status::NotFound("stream " + shared->stream + " has no shard " +
                            std::to_string(shard.value()));
  }
  std::unique_ptr<Subscription> sub(new Subscription(shared, std::move(conn)));
  shared->Subscribe(shard, shared->opts.from);
  std::unique_lock<std::mutex> lk(shared->mu);
  auto settled = [&] { return shared->acked.count(shard) != 0 || shared->ended.count(shard) != 0; };
  if (timeout_ms > 0) {
    if (!shared->cv.wait_for(lk, std::chrono::milliseconds(timeout_ms), settled)) {
      return Status::Unavailable("Subscribe unanswered after " + std::to_string(timeout_ms) +
                                 " ms");
    }
  } else {
    shared->cv.wait(lk, settled);
  }
  // Refused before any push: report it here rather than (only) through on_end.
  if (shared->acked.count(shard) == 0) {
    Status s = shared->ended.at(shard);
    if (!s.ok()) return s;
  }
  return sub;
}

void Subscription::Stop() {
  {
    std::lock_guard<std::mutex> l(shared_->mu);
    shared_->stopped = true;
  }
  conn_->Close();
}

bool Subscription::WaitUntilEnded(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lk(shared_->mu);
  return shared_->cv.wait_for(lk, std::chrono::milliseconds(timeout_ms),
                              [&] { return shared_->ended.size() == shared_->subscribed.size(); });
}

std::vector<ShardId> Subscription::shards() const {
  std::lock_guard<std::mutex> l(shared_->mu);
  return {shared_->subscribed.begin(), shared_->subscribed.end()};
}

}  // namespace sluice::client
