// SPDX-License-Identifier: Apache-2.0
// Reader: reads a stream's shards with shard iterators (GetShardIterator, then Fetch with
// long polls), one outstanding Fetch per shard pipelined on one connection, parents before
// children. Subscribe-based reading is Subscription (subscription.h).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/client/admin.h"
#include "broker/client/connection.h"
#include "broker/client/fetched_records.h"
#include "log/base/result.h"
#include "log/base/status.h"

namespace sluice::client {

struct ReaderOptions {
  // Where the selected shards start. kAtSequence / kAfterSequence name one shard's record, so
  // they select that shard when `shards` is empty.
  StartingPosition from;
  // Shards to read. Empty: every shard (closed ones too) for kTrimHorizon and kAtTimestamp,
  // the open ones for kLatest, the issuing shard for kAt/AfterSequence.
  std::vector<ShardId> shards;
  // When a shard ends (closed and drained), read its children from TRIM_HORIZON, each once
  // all of its parents that this reader reads have ended.
  bool follow_children = true;
  // true: tail the shards with long polls of max_wait_ms; Next() returns after each round of
  // responses, possibly with no records. false: replay up to now: a shard is finished by the
  // first Fetch (max_wait_ms 0) that returns no records.
  bool follow = false;
  uint32_t max_wait_ms = 1000;
  uint32_t max_bytes = 1u << 20;  // Per Fetch.
};

// Not thread-safe: one thread calls Next(). Fetch responses arrive on the connection's reader
// thread and are queued for Next().
class Reader {
 public:
  // Describes the stream and selects the shards. `*connection` must outlive the Reader.
  static Result<std::unique_ptr<Reader>> Open(Connection* connection, std::string stream,
                                              ReaderOptions options);
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // The records of the next Fetch responses to arrive (each shard's in order, shards
  // interleaved). Empty with done() true at the end. An expired iterator is renewed after the
  // last record read; other errors (NotFound, Unavailable...) are returned.
  Result<std::vector<ReadRecord>> Next();
  // Every shard finished: ended (closed and drained) or, without `follow`, caught up.
  bool done() const;
  // The largest MillisBehindLatest of the last responses.
  uint64_t millis_behind_latest() const { return millis_behind_; }
  // Shards read so far (children appear as they are followed).
  std::vector<ShardId> shards() const;

 private:
  enum class State { kWaitingForParents, kIdle, kFetching, kCaughtUp, kEnded };
  struct Cursor {
    ShardId shard;
    broker::ShardGeneration generation;
    std::vector<ShardId> parents;
    StartingPosition start;
    std::string iterator;
    std::string last_sequence;   // Of the last record read, to renew an expired iterator.
    SequenceNumber next_offset;  // Records below it were read (or precede the start).
    bool renewed = false;        // The iterator was renewed and has not served a Fetch yet.
    State state = State::kIdle;
  };
  struct Arrival {
    ShardId shard;
    Result<native::Frame> frame;
  };
  struct Inbox {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Arrival> arrivals;
  };

  Reader(Connection* connection, std::string stream, ReaderOptions options);
  Status Describe();
  Status AddShard(ShardId shard, const StartingPosition& start);
  void Activate();
  Status StartFetches();
  Status Handle(Arrival arrival, std::vector<ReadRecord>* out);

  Connection* const conn_;
  const std::string stream_;
  const ReaderOptions opts_;
  std::map<uint32_t, ShardDescription> described_;
  std::map<ShardId, Cursor> cursors_;
  std::map<uint64_t, ShardId> in_flight_;  // Correlation id -> shard.
  std::shared_ptr<Inbox> inbox_;           // Shared with callbacks that may outlive us.
  uint64_t millis_behind_ = 0;
};

}  // namespace sluice::client
