// SPDX-License-Identifier: Apache-2.0
// Engine: the shard-per-core server around a Broker. N reactor threads, each with its own epoll
// loop and set of shards; a pool of threads for the appends' blocking write + fdatasync; the
// native protocol's listener on reactor 0, which spreads connections over the reactors. See
// broker/README.md "Engine".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "broker/broker.h"
#include "broker/native_frame.h"
#include "log/base/result.h"
#include "log/base/status.h"

namespace sluice::broker {

// What the engine reports as it works, for metrics. Called from reactor threads, concurrently:
// implementations must be thread-safe and must not block. Every method has a no-op default.
class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  // One append to one shard: `batches` client batches holding `records` records and `bytes`
  // bytes (whole batches), taking `latency_ns` from the request's arrival to durability.
  virtual void OnAppend(std::string_view /*stream*/, uint32_t /*shard*/, uint64_t /*batches*/,
                        uint64_t /*records*/, uint64_t /*bytes*/, int64_t /*latency_ns*/) {}
  // Batches sent to a reader (Fetch response or Subscribe push).
  virtual void OnRead(std::string_view /*stream*/, uint32_t /*shard*/, uint64_t /*records*/,
                      uint64_t /*bytes*/) {}
  // A subscriber's or fetcher's distance behind the shard's visible end after a response.
  virtual void OnLag(std::string_view /*stream*/, uint32_t /*shard*/, uint64_t /*records_behind*/) {
  }
  virtual void OnConnectionOpened() {}
  virtual void OnConnectionClosed() {}
  // A request answered with an error frame (code = native::ErrorCode as an integer).
  virtual void OnError(uint16_t /*code*/) {}
};

struct EngineOptions {
  // Reactor threads; 0 = one per core (std::thread::hardware_concurrency()).
  uint32_t threads = 0;
  // Threads that run shard appends (write + fdatasync) so that reactors never wait on the
  // disk and one reactor's shards flush in parallel; 0 = 4 per reactor.
  uint32_t append_threads = 0;
  // Native protocol listener. Port 0 picks a free one (see Engine::native_port()).
  std::string native_host = "127.0.0.1";
  uint16_t native_port = 4568;
  // Frames above this are refused (kFrameTooLarge) before being buffered.
  size_t max_frame_bytes = native::kDefaultMaxFrameBytes;
  // Per-connection memory cap: while a connection's unsent responses plus requests in flight
  // exceed this, the engine stops reading from it (TCP pushes back on the client).
  size_t max_connection_bytes = 64u << 20;
  // Connections with no traffic (and no subscription) for this long are closed; checked once a
  // second.
  int64_t idle_timeout_ms = 600'000;
  std::string server_id = "sluiced";
  EngineObserver* observer = nullptr;  // Optional; must outlive the engine.
};

class Engine {
 public:
  // Starts the reactors and binds the native listener. `*broker` must outlive the engine.
  static Result<std::unique_ptr<Engine>> Start(Broker* broker, EngineOptions options);
  virtual ~Engine() = default;  // Stop()s.

  virtual uint16_t native_port() const = 0;
  virtual uint32_t threads() const = 0;
  // The most memory the engine held for any one connection so far (request bytes in flight
  // plus replies queued), to check the per-connection cap: it stays near max_connection_bytes
  // plus one frame, whatever the client does.
  virtual size_t peak_connection_bytes() const = 0;
  // Shards the reactors currently hold state for (producer tables, readers). Those of deleted
  // streams are dropped within about a second. Waits for every reactor: for tests and tools.
  virtual size_t shard_owner_count() const = 0;
  // Graceful stop: stops accepting, answers requests already read, closes connections, joins
  // the reactors. Idempotent. The broker stays open (the caller syncs and closes it).
  virtual Status Stop() = 0;
};

}  // namespace sluice::broker
