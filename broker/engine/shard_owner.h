// SPDX-License-Identifier: Apache-2.0
// ShardOwner: one shard as its owning reactor serves it. Produce requests gathered during one
// loop iteration are appended together (one group commit), idempotent producers are
// deduplicated, and fetches, long polls and subscriptions are answered as records become
// visible. Everything here runs on the owner's loop thread (no lock on the append path)
// except the log append itself, which runs on the engine's BlockingPool.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "broker/engine/blocking_pool.h"
#include "broker/engine/engine.h"
#include "broker/engine/jobs.h"
#include "broker/engine/reactor.h"
#include "broker/producer_state.h"
#include "broker/shard.h"

namespace sluice::broker::engine {

// Lets a shard log's visible-watermark listener (which runs on whichever thread advanced the
// watermark) post to the owner's reactor, and be cut off safely when the owner goes away.
struct VisibleRelay {
  std::mutex mu;
  Reactor* reactor = nullptr;  // nullptr once detached.
  std::function<void()> on_visible;
};

// Tells the subscriber's connection (on its reactor) that one of its subscriptions ended, so it
// may be closed as idle again (Connection::active_waits).
void EndSubscription(const ReplyTo& reply);

// Owned by shared_ptr (its reactor's table); tasks it schedules hold weak references, except
// an append in flight, which keeps it alive until answered.
class ShardOwner : public std::enable_shared_from_this<ShardOwner> {
 public:
  struct Context {
    Reactor* reactor = nullptr;
    Broker* broker = nullptr;
    EngineObserver* observer = nullptr;
    size_t max_record_bytes = 0;
    // Runs the blocking append (write + fdatasync) off the reactor; nullptr: inline.
    BlockingPool* pool = nullptr;
  };
  // `shard` belongs to stream `stream_name` incarnation `stream_id`. Rebuilds the producer
  // table from the log's tail (see init_status()) and listens for new visible records.
  static std::shared_ptr<ShardOwner> Create(Context ctx, std::shared_ptr<Shard> shard,
                                            std::string stream_name, uint64_t stream_id);
  ~ShardOwner();  // Detaches the visible listener.
  ShardOwner(const ShardOwner&) = delete;
  ShardOwner& operator=(const ShardOwner&) = delete;

  const Status& init_status() const { return init_status_; }
  const std::string& stream_name() const { return stream_name_; }
  uint64_t stream_id() const { return stream_id_; }
  Shard& shard() const { return *shard_; }

  // Queues the job's batches; they are appended at the end of this loop iteration.
  void Produce(std::unique_ptr<ProduceJob> job);
  void Fetch(std::unique_ptr<FetchJob> job);
  void Subscribe(std::unique_ptr<SubscribeJob> job);
  // The subscriber connection drained below its cap: push again.
  void Resume() { PushSubscriptions(); }
  // Engine stopping: answers long polls now and ends subscriptions.
  void Drain();
  // The stream is gone: answers queued produce requests with `why`, drains, stops listening.
  // (An append already in the log is answered when it completes.)
  void Retire(const Status& why);

 private:
  ShardOwner(Context ctx, std::shared_ptr<Shard> shard, std::string stream_name,
             uint64_t stream_id);
  void Attach();
  void Detach();

  struct Waiter {
    std::unique_ptr<FetchJob> job;
    SteadyTime deadline;
  };
  struct Subscription {
    ReplyTo reply;
    std::shared_ptr<const Stream> stream;
    uint64_t next = 0;
    uint32_t max_bytes = 0;
  };

  struct Flush;
  void FlushAppends();
  void FinishFlush(Flush& flush);
  void OnVisible();
  void AnswerFetch(FetchJob& job);
  struct Built {
    Status error;            // When set, answer with it instead of `body`.
    std::string body;        // An encoded FetchResponse.
    uint64_t next = 0;       // Where the following read starts.
    bool exhausted = false;  // The shard is closed and read to its end: no next iterator.
  };
  // Reads from `offset` and encodes a FetchResponse; nullopt when there is nothing to send
  // and the shard is still open (the caller may wait).
  std::optional<Built> BuildFetch(const Stream& stream, uint64_t offset, uint32_t max_bytes);
  void SendBuilt(const ReplyTo& reply, const Built& built, uint8_t flags);
  void PushSubscriptions();
  void ExpireWaiters();
  void ScheduleSubscriptionTick();

  const Context ctx_;
  const std::shared_ptr<Shard> shard_;
  const std::string stream_name_;
  const uint64_t stream_id_;
  Status init_status_;
  ProducerStateTable producers_;
  std::vector<std::unique_ptr<ProduceJob>> pending_;
  bool flush_scheduled_ = false;
  bool append_in_flight_ = false;  // A Flush is in the log (on the blocking pool).
  std::list<Waiter> waiters_;
  std::list<Subscription> subscriptions_;
  std::shared_ptr<VisibleRelay> relay_;
  bool tick_scheduled_ = false;
  bool draining_ = false;  // Engine stopping: long polls are answered at once.
};

}  // namespace sluice::broker::engine
