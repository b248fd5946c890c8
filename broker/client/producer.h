// SPDX-License-Identifier: Apache-2.0
// Producer: batching, idempotent, retrying record writer over the native protocol. Records are
// routed to shards on the client (MD5 of the partition key against the described hash ranges),
// gathered into one record batch per shard, and sent with a producer id and per-shard batch
// sequence so that retries after a lost response are never appended twice.
// See broker/client/README.md "Producer".
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "broker/client/connection.h"
#include "broker/producer_state.h"
#include "log/base/result.h"
#include "log/base/status.h"
#include "log/base/types.h"

namespace sluice::client {

// The broker remembers the last ProducerStateTable::Options::window (8) batches per producer and
// shard; more batches in flight past an unacknowledged one would defeat deduplication.
inline constexpr size_t kMaxInFlightPerShard = 8;
static_assert(kMaxInFlightPerShard <= broker::ProducerStateTable::Options{}.window);

struct ProducerOptions {
  ConnectionOptions connection;
  // A shard's batch is sent when it reaches max_batch_bytes or max_batch_records, or
  // linger_ms after its first record (0: as soon as the sender thread sees it).
  int64_t linger_ms = 5;
  size_t max_batch_bytes = 1u << 20;
  size_t max_batch_records = 10'000;
  // Produce requests awaiting a response, per shard (1..kMaxInFlightPerShard; clamped). Also the
  // most sequences sent past the oldest unacknowledged batch, so that a retry of it is still
  // among the batches the broker remembers.
  size_t max_in_flight_per_shard = 5;
  // Zstandard-compress each batch's records section (log::RecordBatchBuilder).
  bool compress = false;
  int zstd_level = 1;
  // Send() blocks while records not yet acknowledged hold this many key + data bytes.
  size_t max_buffered_bytes = 64u << 20;
  // Client-side checks mirroring the broker's defaults (broker/broker_types.h).
  size_t max_record_bytes = 1u << 20;
  // Retries: first delay, doubled up to 1 s; a record not acknowledged this long after Send()
  // fails (with the last error seen).
  int64_t retry_backoff_ms = 50;
  int64_t delivery_timeout_ms = 120'000;
  // 0: a random non-zero id.
  uint64_t producer_id = 0;
  // Test hook: called with the ordinal (1, 2, ...) of every Produce response received; when it
  // returns true the response is discarded and the connection dropped, as if the response were
  // lost on the wire. The batch is then retried like any batch whose outcome is unknown.
  std::function<bool(uint64_t response_ordinal)> testing_drop_response;
};

struct SendResult {
  ShardId shard;
  std::string sequence_number;  // 56-digit Kinesis-style.
};
using SendCallback = std::function<void(Result<SendResult>)>;

// Thread-safe: Send, Flush and Close may be called from any thread. One sender thread owns the
// connection: it routes, seals batches, sends, reconnects and retries; callbacks run on it or
// on the connection's reader thread, never under the producer's lock, and may call Send (not
// Flush or Close).
//
// Ordering and delivery: records of one shard are appended in Send order (within one Producer),
// exactly once while the server remembers the producer (its last 8 batches per shard; see
// broker/producer_state.h). A batch whose outcome is unknown (connection lost) is resent with
// the same producer id and sequence, and the batches after it on that shard are resent in
// sequence order after it. A batch that fails for good fails its records; the shard's later
// batches then continue under a fresh producer id. Two cases can still duplicate: a batch whose
// outcome is unknown when its shard is closed by resharding (its records are routed again to
// the children), and a server restart that forgets producers.
class Producer {
 public:
  // Connects (failing fast when the server is unreachable) and starts the sender thread.
  static Result<std::unique_ptr<Producer>> Open(ProducerOptions options);
  ~Producer();  // Close()s.
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues one record. The future (or callback) completes once the broker has appended it
  // durably, or with its error: InvalidArgument (bad key, data or hash key, before queueing),
  // NotFound (no such stream), Aborted (producer closed), or the last retriable error after
  // delivery_timeout_ms. Blocks while max_buffered_bytes are buffered.
  std::future<Result<SendResult>> Send(std::string_view stream, std::string_view partition_key,
                                       std::string_view data,
                                       std::optional<std::string_view> explicit_hash_key = {});
  void Send(std::string_view stream, std::string_view partition_key, std::string_view data,
            std::optional<std::string_view> explicit_hash_key, SendCallback done);

  // Sends every queued record without waiting for linger and waits until none is pending
  // (including records other threads send meanwhile).
  void Flush();
  // Flush(), then stops the sender thread and closes the connection. Later Sends fail with
  // Aborted. Idempotent.
  void Close();

  uint64_t producer_id() const { return producer_id_; }

  // Counters, for tests and tools.
  struct Stats {
    uint64_t requests = 0;      // Produce requests sent (retries included).
    uint64_t retries = 0;       // Batches sent again.
    uint64_t reconnects = 0;    // Connections re-established.
    uint64_t id_rotations = 0;  // Shards moved to a fresh producer id.
    uint64_t reroutes = 0;      // Batches routed again after their shard closed.
  };
  Stats stats() const;

 private:
  class Impl;  // producer_impl.h
  explicit Producer(std::unique_ptr<Impl> impl);

  const std::unique_ptr<Impl> impl_;
  const uint64_t producer_id_;
};

}  // namespace sluice::client
