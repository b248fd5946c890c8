// SPDX-License-Identifier: Apache-2.0
#include "broker/producer_state.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "log/base/check.h"
#include "log/log.h"
#include "log/record_batch.h"

namespace sluice::broker {
namespace {

// Rebuild reads at most this many bytes per Read call, and plans chunks of about
// kChunkBytes (and at most kMaxChunkRecords records) so that the headers of one chunk, buffered
// to be replayed newest first, stay small whatever the batch sizes.
constexpr size_t kReadBytes = 1 << 20;
constexpr uint64_t kChunkBytes = 16 << 20;
constexpr uint64_t kMaxChunkRecords = 1 << 16;
constexpr uint64_t kFirstChunkRecords = 256;

// A producer batch seen by Rebuild.
struct SeenBatch {
  ProducerId producer;
  uint64_t seq;
  ProducerBatchOffsets offsets;
};

// What Rebuild learns about one producer walking the log newest first.
struct Tail {
  std::vector<ProducerBatchOffsets> newest_first;  // Sequences last_seq, last_seq - 1, ...
  uint64_t last_seq = 0;
  bool done = false;  // The window is full or the older batches are another run.
};

// What ReadChunk covered.
struct Chunk {
  uint64_t bytes = 0;                        // Sum of the batch lengths read.
  std::optional<SequenceNumber> first_base;  // Base of the first batch read; none when empty.
  SequenceNumber end;                        // Where reading stopped (<= hi).
};

// Reads the batches of `log` from the one holding `from` up to `hi` (exclusive; batches
// reaching past it are left out) and appends those of producers to `*out`, in log order.
Result<Chunk> ReadChunk(const replication::ReplicatedLog& log, SequenceNumber from,
                        SequenceNumber hi, std::vector<SeenBatch>* out) {
  out->clear();
  Chunk chunk{.end = from};
  while (chunk.end < hi) {
    SLUICE_ASSIGN_OR_RETURN(
        log::ReadResult read,
        log.Read(chunk.end, log::ReadOptions{.max_bytes = kReadBytes, .upto = hi}));
    for (const log::RecordBatchView& batch : read.Batches()) {
      const log::BatchHeader& h = batch.header();
      if (!chunk.first_base) chunk.first_base = h.base_offset;
      chunk.bytes += h.length;
      if (h.producer_id.value() != 0) {
        out->push_back({h.producer_id, h.producer_seq, {h.base_offset, h.last_offset()}});
      }
    }
    if (read.next <= chunk.end) break;  // Only a batch reaching past hi is left.
    chunk.end = read.next;
  }
  return chunk;
}

}  // namespace

ProducerStateTable::ProducerStateTable() : ProducerStateTable(Options()) {}

ProducerStateTable::ProducerStateTable(Options options) : options_(options) {
  SLUICE_CHECK(options_.window >= 1, "producer window must be at least 1");
  SLUICE_CHECK(options_.max_producers >= 1, "max_producers must be at least 1");
}

ProducerStateTable::Decision ProducerStateTable::Check(ProducerId producer, uint64_t seq) const {
  SLUICE_CHECK(producer.value() != 0, "producer id 0 means no producer");
  auto it = producers_.find(producer);
  if (it == producers_.end()) return {};
  const Producer& p = it->second;
  if (p.last_seq != UINT64_MAX && seq == p.last_seq + 1) return {};
  const std::string id = std::to_string(producer.value());
  if (seq > p.last_seq) {
    return {Verdict::kReject,
            {},
            Status::InvalidArgument("out of order sequence: expected " +
                                    std::to_string(p.last_seq + 1) + ", got " +
                                    std::to_string(seq) + " for producer " + id)};
  }
  // Invariant: count >= 1 for a known producer, and the remembered run ends at last_seq.
  if (p.last_seq - seq < p.count) {
    return {Verdict::kDuplicate, p.ring[seq % options_.window], Status::OK()};
  }
  return {
      Verdict::kReject,
      {},
      Status::InvalidArgument("duplicate batch too old to report its sequence numbers: sequence " +
                              std::to_string(seq) + " for producer " + id +
                              " was appended before the " + std::to_string(p.count) +
                              " remembered batches ending at " + std::to_string(p.last_seq))};
}

void ProducerStateTable::Record(ProducerId producer, uint64_t seq, ProducerBatchOffsets offsets) {
  SLUICE_CHECK(producer.value() != 0, "producer id 0 means no producer");
  SLUICE_CHECK(offsets.base <= offsets.last, "batch offsets out of order");
  SLUICE_CHECK(offsets.base >= next_offset_, "producer batches recorded out of append order");
  const bool known = producers_.contains(producer);
  Producer& p = Touch(producer);
  const bool next = known && p.last_seq != UINT64_MAX && seq == p.last_seq + 1;
  p.count = next ? std::min(p.count + 1, options_.window) : 1;
  p.last_seq = seq;
  p.ring[seq % options_.window] = offsets;
  next_offset_ = offsets.last.Next();
}

ProducerStateTable::Producer& ProducerStateTable::Touch(ProducerId producer) {
  auto it = producers_.find(producer);
  if (it != producers_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second;
  }
  if (producers_.size() >= options_.max_producers) {
    producers_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(producer);
  Producer& p = producers_[producer];
  p.ring.resize(options_.window);
  p.lru = lru_.begin();
  return p;
}

void ProducerStateTable::Clear() {
  producers_.clear();
  lru_.clear();
  next_offset_ = SequenceNumber();
}

Status ProducerStateTable::Rebuild(const replication::ReplicatedLog& log, uint64_t scan_bytes) {
  Clear();
  const SequenceNumber end(log.visible().value());
  // Producers newest first (by their newest batch), at most max_producers: exactly those an
  // LRU fed in log order would keep.
  std::unordered_map<ProducerId, Tail> tails;
  std::vector<ProducerId> recency;
  auto take = [&](const SeenBatch& b) {
    auto [it, fresh] = tails.try_emplace(b.producer);
    Tail& t = it->second;
    if (fresh) {
      if (recency.size() >= options_.max_producers) {
        tails.erase(it);
        return;
      }
      recency.push_back(b.producer);
      t.last_seq = b.seq;
    } else if (t.done) {
      return;
    } else if (b.seq == UINT64_MAX || b.seq + 1 != t.last_seq - (t.newest_first.size() - 1)) {
      t.done = true;  // Record() would have started the window over after this batch.
      return;
    }
    t.newest_first.push_back(b.offsets);
    t.done = t.newest_first.size() >= options_.window;
  };

  // Chunks [from, hi) walk backwards; hi is always a batch boundary once the first chunk is
  // read (the base of the oldest batch read so far). Each chunk is read forwards, then replayed
  // newest first into `take`.
  SequenceNumber hi = end;
  uint64_t scanned = 0;
  uint64_t step = kFirstChunkRecords;
  std::vector<SeenBatch> chunk;
  while (scanned < scan_bytes && hi > log.start()) {
    const SequenceNumber from(hi.value() - std::min(step, hi.value() - log.start().value()));
    Result<Chunk> read = ReadChunk(log, from, hi, &chunk);
    if (!read.ok()) {
      // Retention moved start() past `from` meanwhile: plan this chunk again from the new one.
      if (read.status().IsNotFound() && log.start() > from) continue;
      Clear();
      return read.status();
    }
    const auto [chunk_bytes, first_base, cur] = *read;
    if (!first_base) {
      if (cur > from) {
        hi = from;  // Only ignorable batches here.
      } else if (from > log.start()) {
        step *= 2;  // `from` fell inside a batch that reaches past hi (a mid-batch visible()).
      } else {
        break;
      }
      continue;
    }
    for (auto b = chunk.rbegin(); b != chunk.rend(); ++b) take(*b);
    scanned += chunk_bytes;
    const uint64_t bytes_per_record =
        std::max<uint64_t>(1, chunk_bytes / (hi.value() - first_base->value()));
    hi = *first_base;
    const uint64_t want = std::min(scan_bytes - std::min(scan_bytes, scanned), kChunkBytes);
    step = std::clamp<uint64_t>(want / bytes_per_record + 1, 1, kMaxChunkRecords);
  }

  // Install oldest producer first, so the newest ends up most recently used.
  for (auto id = recency.rbegin(); id != recency.rend(); ++id) {
    const Tail& t = tails.at(*id);
    Producer& p = Touch(*id);
    p.last_seq = t.last_seq;
    p.count = t.newest_first.size();
    for (size_t i = 0; i < t.newest_first.size(); ++i) {
      p.ring[(t.last_seq - i) % options_.window] = t.newest_first[i];
    }
  }
  next_offset_ = end;
  return Status::OK();
}

}  // namespace sluice::broker
