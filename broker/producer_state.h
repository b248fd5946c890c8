// SPDX-License-Identifier: Apache-2.0
// ProducerStateTable: idempotent-producer deduplication for one shard. Batches tagged with a
// producer id and a per-shard producer sequence (log/format.h) are appended once; a retry of a
// remembered batch is answered with its original sequence numbers. Untagged batches bypass it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "log/base/status.h"
#include "log/base/types.h"
#include "replication/replicated_log.h"

namespace sluice::broker {

// Where one appended batch landed: its first and last record.
struct ProducerBatchOffsets {
  SequenceNumber base;
  SequenceNumber last;
  bool operator==(const ProducerBatchOffsets&) const = default;
};

// Per producer: the last accepted sequence and the offsets of up to `window` most recent
// batches (a contiguous run of sequences ending at the last one). At most `max_producers`
// producers are kept; recording a batch for a new one beyond that forgets the least recently
// recorded producer, whose next batch is then accepted with any sequence (its retries are no
// longer deduplicated). Memory: O(max_producers * window).
//
// Not thread-safe: one owner (the shard's thread) calls every method.
class ProducerStateTable {
 public:
  struct Options {
    size_t window = 8;               // Recent batches remembered per producer (>= 1).
    size_t max_producers = 100'000;  // Least recently used producer evicted beyond it (>= 1).
  };
  // (Two constructors rather than `Options options = {}`: GCC rejects a default argument of a
  // nested struct with member initializers inside the enclosing class.)
  ProducerStateTable();
  explicit ProducerStateTable(Options options);
  ProducerStateTable(const ProducerStateTable&) = delete;
  ProducerStateTable& operator=(const ProducerStateTable&) = delete;

  enum class Verdict { kAppend, kDuplicate, kReject };
  struct Decision {
    Verdict verdict = Verdict::kAppend;
    ProducerBatchOffsets original;  // kDuplicate: where the batch was first appended.
    Status error;                   // kReject: InvalidArgument saying why.
  };

  // The verdict for batch `seq` of `producer` (producer.value() != 0, checked):
  //  - unknown producer: kAppend, whatever `seq`;
  //  - seq == last + 1: kAppend;
  //  - seq <= last within the window: kDuplicate with its original offsets;
  //  - seq <= last older than the window: kReject ("duplicate batch too old ...");
  //  - seq > last + 1: kReject ("out of order sequence: expected <last+1>, got <seq> for
  //    producer <id>"); a pipelined client retries from the gap.
  // Changes nothing (recency included).
  Decision Check(ProducerId producer, uint64_t seq) const;

  // Records batch `seq` of `producer`, appended (durably) at `offsets`. Calls must follow append
  // order: offsets.base above every offset recorded before (checked). `seq` should be one Check
  // accepted; any other (a log replayed after an eviction) starts the producer's window over.
  void Record(ProducerId producer, uint64_t seq, ProducerBatchOffsets offsets);

  // Replaces the table with what the tail of `log` says. Reads whole batches backwards, in
  // chunks (each read forwards) from visible(), until about `scan_bytes` of batches were read
  // (at least that much, overshooting by at most one chunk: the first is 256 records, later
  // ones are planned at <= 16 MiB) or start() is reached. A restart thus costs O(scan_bytes)
  // I/O and batch checksum work, never the whole retained log; records are not decoded, and
  // memory stays O(max_producers * window) plus one chunk's headers. Producers whose batches
  // all lie before the scanned tail are forgotten (as if evicted); scan_bytes = UINT64_MAX
  // scans everything, 0 nothing. Batches at or above visible() are not seen: call it when
  // visible() == next_offset() (after Open or Sync) and before the shard takes appends. The
  // result is what Record() in log order would give, except that producers are never evicted
  // mid-history. Corruption/IOError from the log is returned (the table is then left empty).
  Status Rebuild(const replication::ReplicatedLog& log, uint64_t scan_bytes = 256ull << 20);

  size_t producer_count() const { return producers_.size(); }

 private:
  struct Producer {
    uint64_t last_seq = 0;
    size_t count = 0;  // Remembered batches: sequences (last_seq - count, last_seq].
    std::vector<ProducerBatchOffsets> ring;  // Batch `s` at ring[s % window].
    std::list<ProducerId>::iterator lru;     // Position in lru_ (front: most recent).
  };

  // The producer's entry, created (evicting the least recently used one when full) and moved
  // to the front of the recency list.
  Producer& Touch(ProducerId producer);
  void Clear();

  const Options options_;
  std::unordered_map<ProducerId, Producer> producers_;
  std::list<ProducerId> lru_;
  SequenceNumber next_offset_;  // One past the last offset recorded: enforces append order.
};

}  // namespace sluice::broker
