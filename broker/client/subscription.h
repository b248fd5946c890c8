// SPDX-License-Identifier: Apache-2.0
// Subscription: push-based reading of one shard (and optionally its descendants) with the
// native Subscribe request: the server pushes FetchResponse frames as records arrive.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "broker/client/admin.h"
#include "broker/client/connection.h"
#include "broker/client/fetched_records.h"
#include "log/base/result.h"
#include "log/base/status.h"

namespace sluice::client {

struct SubscribeOptions {
  StartingPosition from;  // For the first shard; followed children start at TRIM_HORIZON.
  uint32_t max_bytes_per_push = 1u << 20;
  // When a shard ends (closed and drained), subscribe to its children too.
  bool follow_children = false;
};

// Handlers run on the subscription's connection thread, one at a time, each shard's pushes in
// order. They must not block for long and must not Stop() or destroy the Subscription.
struct SubscribeHandlers {
  // One push: its records, in order (possibly none: a heartbeat with the shard's lag).
  std::function<void(ShardId shard, std::vector<ReadRecord>& records,
                     uint64_t millis_behind_latest)>
      on_batch;
  // Per record, for every push, when on_batch is not set.
  std::function<void(const ReadRecord& record)> on_record;
  // A shard's subscription is over: OK when the shard ended (closed and drained; `children`
  // continue it), else the failure (Unavailable when the connection dropped, the server's
  // error, Corruption for a bad push).
  std::function<void(ShardId shard, const Status& status, const std::vector<ShardId>& children)>
      on_end;
};

// Owns its own connection (the protocol has no Unsubscribe: Stop closes it). Thread-safe.
class Subscription {
 public:
  // Connects, describes the stream and subscribes to `shard`. Returns once the server
  // accepted (Ack) or refused the subscription.
  static Result<std::unique_ptr<Subscription>> Start(ConnectionOptions connection,
                                                     std::string stream, ShardId shard,
                                                     SubscribeOptions options,
                                                     SubscribeHandlers handlers);
  ~Subscription();  // Stop()s.
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Closes the connection; no handler runs once this returns. Idempotent.
  void Stop();
  // Waits up to `timeout_ms` until every subscribed shard's subscription is over.
  bool WaitUntilEnded(int64_t timeout_ms);
  // Shards subscribed so far.
  std::vector<ShardId> shards() const;

 private:
  struct Shared;  // subscription.cc: the state the connection's callbacks share.

  Subscription(std::shared_ptr<Shared> shared, std::unique_ptr<Connection> conn);

  const std::shared_ptr<Shared> shared_;
  // Declared last so it closes first; callbacks reach it through Shared only while it is open.
  const std::unique_ptr<Connection> conn_;
};

}  // namespace sluice::client
