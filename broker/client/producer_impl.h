// SPDX-License-Identifier: Apache-2.0
// Producer internals (not installed API): per-stream routing state and per-shard pipes of
// stamped batches. producer.cc runs the sender thread; producer_pipe.cc holds the per-shard
// batching, response and recovery rules.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "broker/client/connection.h"
#include "broker/client/producer.h"
#include "broker/client/shard_router.h"
#include "log/base/thread_annotations.h"

namespace sluice::client {

// One record from Send() until its callback runs.
struct ProducerRecord {
  std::string partition_key;
  std::string data;
  std::optional<std::string> explicit_hash_key;
  SendCallback done;
  int64_t enqueued_ns = 0;
  size_t bytes() const { return partition_key.size() + data.size(); }
};

// A sealed batch of one shard, stamped (producer_id, seq) for its whole life unless its shard
// rotates to a fresh producer id.
struct ProducerBatch {
  uint64_t id = 0;  // Unique in the producer; matches responses to batches.
  std::vector<ProducerRecord> records;
  uint64_t producer_id = 0;
  uint64_t seq = 0;
  std::string encoded;  // The record batch for (encoded_id, encoded_seq); empty until sent.
  uint64_t encoded_id = 0;
  uint64_t encoded_seq = 0;
  bool in_flight = false;
  uint64_t attempt = 0;           // Bumped per send; stale responses are ignored.
  bool maybe_written = false;     // Some attempt's outcome is unknown.
  bool reroute = false;           // Refused because its shard closed or vanished.
  int64_t sent_ns = 0;            // Last send.
  int64_t first_enqueued_ns = 0;  // Oldest record's Send().
  Status last_error;
  size_t bytes() const;
};

// One shard's pipeline. Invariant: `unacked` is in sequence order; while `blocked`, nothing is
// sent, and recovery runs only once in_flight == 0, so a resend never overtakes an older batch.
struct ShardPipe {
  ShardId shard;
  uint64_t producer_id = 0;
  uint64_t next_seq = 0;
  std::vector<ProducerRecord> open;  // Not yet sealed.
  size_t open_bytes = 0;
  int64_t open_since_ns = 0;
  std::deque<std::unique_ptr<ProducerBatch>> unacked;
  size_t in_flight = 0;
  bool blocked = false;  // A batch failed: drain, then Recover().
  bool rotate = false;   // A batch failed for good: later ones need a fresh producer id.
  bool dead = false;     // Shard closed; records moved elsewhere; erase.
  int64_t retry_at_ns = 0;
  int64_t backoff_ms = 0;
};

struct StreamState {
  std::string name;
  std::optional<ShardRouter> router;
  bool need_describe = true;
  int64_t describe_at_ns = 0;  // Not before (backoff after a failed describe).
  std::vector<ProducerRecord> unrouted;
  std::map<ShardId, ShardPipe> pipes;
};

// Names one send of one batch; its response finds the batch again by it.
struct ProduceKey {
  std::string stream;
  ShardId shard;
  uint64_t batch_id = 0;
  uint64_t attempt = 0;
};

// A Produce request built under the lock and sent outside it.
struct ProduceJob {
  ProduceKey key;
  std::string body;
};

// Callbacks to run once the lock is released.
using Completions = std::vector<std::pair<SendCallback, Result<SendResult>>>;

// A random non-zero producer id.
uint64_t RandomProducerId();
// True on a thread running producer callbacks (Send must not block there).
bool InProducerCallback();

class Producer::Impl {
 public:
  Impl(ProducerOptions options, std::unique_ptr<Connection> conn);
  ~Impl();

  void Send(std::string_view stream, std::string_view partition_key, std::string_view data,
            std::optional<std::string_view> explicit_hash_key, SendCallback done);
  void Flush();
  void Close();
  uint64_t producer_id() const { return opts_.producer_id; }
  Stats stats() const;

 private:
  int64_t NowNs() const;
  void Wake() REQUIRES(mu_);
  // Sleeps until `deadline_ns` (or forever when 0) or Wake().
  void WaitLocked(int64_t deadline_ns) REQUIRES(mu_);

  // --- Sender thread (producer.cc) ---
  void SenderLoop();
  void Reconnect() REQUIRES(mu_);
  void Describe(StreamState* stream, Completions* done) REQUIRES(mu_);
  void SendJobs(std::vector<ProduceJob> jobs) REQUIRES(mu_);
  int64_t NextDeadline(int64_t now) REQUIRES(mu_);
  void FailStream(StreamState* stream, const Status& status, Completions* done) REQUIRES(mu_);
  void ExpireUnrouted(StreamState* stream, int64_t now, Completions* done) REQUIRES(mu_);

  // --- Pipes (producer_pipe.cc) ---
  // Routes `records` (in order) into their shards' open batches, ahead of records already
  // there when `front`; records no open shard owns wait in stream->unrouted.
  void Route(StreamState* stream, std::vector<ProducerRecord> records, bool front) REQUIRES(mu_);
  ShardPipe* PipeFor(StreamState* stream, ShardId shard) REQUIRES(mu_);
  void AddToOpen(ShardPipe* pipe, ProducerRecord record, int64_t now) REQUIRES(mu_);
  // Seals a prefix of pipe->open that fits one batch.
  void SealOne(ShardPipe* pipe) REQUIRES(mu_);
  // Seals what is due, recovers a drained blocked pipe, and queues sendable batches.
  void Service(StreamState* stream, ShardPipe* pipe, int64_t now, std::vector<ProduceJob>* jobs,
               Completions* done) REQUIRES(mu_);
  void Recover(StreamState* stream, ShardPipe* pipe, int64_t now, Completions* done) REQUIRES(mu_);
  // Fails the oldest batches once delivery_timeout_ms has passed since their Send (only with
  // nothing in flight, so no answer can still arrive for them). True when any failed.
  bool ExpireFront(ShardPipe* pipe, int64_t now, Completions* done) REQUIRES(mu_);
  Status Encode(ProducerBatch* batch);
  void OnResponse(const ProduceKey& key, Result<native::Frame> response) EXCLUDES(mu_);
  void Complete(ShardPipe* pipe, ProducerBatch* batch, const native::ProduceResult& result,
                Completions* done) REQUIRES(mu_);
  // Fails every record of `batch` (removed from `pipe` by the caller).
  void FailBatch(ProducerBatch* batch, const Status& status, Completions* done) REQUIRES(mu_);
  void FailRecord(ProducerRecord* record, const Status& status, Completions* done) REQUIRES(mu_);
  // Runs the callbacks, then counts their records as no longer outstanding (so Flush returns
  // only after the callbacks of what it waited for have run).
  void Run(Completions* done) EXCLUDES(mu_);

  ProducerOptions opts_;

  mutable Mutex mu_;
  std::condition_variable cv_;        // Wakes the sender thread.
  std::condition_variable space_cv_;  // Wakes Send (buffer space) and Flush (all done).
  std::map<std::string, StreamState, std::less<>> streams_ GUARDED_BY(mu_);
  // Used and replaced only by the sender thread (and by Close() after joining it).
  std::unique_ptr<Connection> conn_;
  bool conn_broken_ GUARDED_BY(mu_) = false;
  int64_t reconnect_at_ns_ GUARDED_BY(mu_) = 0;
  int64_t reconnect_backoff_ms_ GUARDED_BY(mu_) = 0;
  bool dirty_ GUARDED_BY(mu_) = false;  // Set by Wake(); the sender rescans before sleeping.
  size_t buffered_bytes_ GUARDED_BY(mu_) = 0;
  uint64_t outstanding_ GUARDED_BY(mu_) = 0;  // Records sent whose callback has not run.
  int flushing_ GUARDED_BY(mu_) = 0;
  bool closed_ GUARDED_BY(mu_) = false;  // Send refuses.
  bool stop_ GUARDED_BY(mu_) = false;    // Sender exits once nothing is outstanding.
  uint64_t next_batch_id_ GUARDED_BY(mu_) = 1;
  uint64_t response_ordinal_ GUARDED_BY(mu_) = 0;
  Stats stats_ GUARDED_BY(mu_);
  std::thread sender_;
  std::once_flag close_once_;
};

}  // namespace sluice::client
