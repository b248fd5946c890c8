// SPDX-License-Identifier: Apache-2.0
// The requests a connection's reactor hands to a shard's owning reactor. Each carries what
// the owner needs (the stream snapshot keeps the Shard alive) and where to answer.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "broker/engine/connection.h"
#include "broker/engine/reactor.h"
#include "broker/native_records.h"
#include "broker/stream.h"

namespace sluice::broker::engine {

// Where a response goes: the connection (on its own reactor) and the request's correlation id.
// `reserved` bytes were counted against the connection when the request was handed off and
// are released with the reply; `in_flight` (when set) counts the request until it is answered.
// A subscription's pushes use a copy with both cleared.
struct ReplyTo {
  std::weak_ptr<Connection> conn;
  Reactor* reactor = nullptr;
  uint64_t correlation_id = 0;
  size_t reserved = 0;
  std::atomic<int64_t>* in_flight = nullptr;

  // Posts `frame` to the connection's reactor, counting it against the connection at once
  // (back-pressure sees frames in transit). Send or Error is called once per request, except
  // for subscription pushes.
  void Send(std::string frame) const;
  void Error(native::ErrorCode code, std::string_view message) const;
  void Error(const Status& status) const;
};

struct ProduceJob {
  ReplyTo reply;
  std::shared_ptr<const Stream> stream;
  native::ProduceRequest request;  // Owns the batches.
  SteadyTime arrival;
};

struct FetchJob {
  ReplyTo reply;
  std::shared_ptr<const Stream> stream;
  uint64_t offset = 0;
  uint32_t max_bytes = 0;
  uint32_t max_wait_ms = 0;
};

struct SubscribeJob {
  ReplyTo reply;
  std::shared_ptr<const Stream> stream;
  uint64_t offset = 0;
  uint32_t max_bytes_per_push = 0;
};

}  // namespace sluice::broker::engine
