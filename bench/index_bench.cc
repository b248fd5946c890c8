// SPDX-License-Identifier: Apache-2.0
// Segment index (log/index.h): lookups by offset and by timestamp in an index of 1,000,000
// entries (one per 4 KiB batch: a ~3.8 GiB segment), and the cost of Add. Build Release to
// quote figures.
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "log/format.h"
#include "log/index.h"

namespace sluice::log {
namespace {

constexpr uint64_t kEntries = 1'000'000;
constexpr uint64_t kBatchBytes = format::kIndexIntervalBytes;  // Every batch gets an entry.
constexpr uint32_t kRecordsPerBatch = 32;
constexpr TimestampMs kT0 = 1'700'000'000'000;
constexpr size_t kProbes = 1 << 16;  // Random targets, cycled (a power of two).

// Adds batch `i` of the synthetic segment: 32 records from i * 32, one millisecond per record.
void AddBatch(Index* index, uint64_t i) {
  index->Add(SequenceNumber(i * kRecordsPerBatch), SequenceNumber((i + 1) * kRecordsPerBatch),
             format::kSegmentHeaderSize + i * kBatchBytes, kBatchBytes,
             kT0 + static_cast<TimestampMs>((i + 1) * kRecordsPerBatch - 1));
}

const Index& FullIndex() {
  static const Index* index = [] {
    auto* idx = new Index(SegmentId(0));
    for (uint64_t i = 0; i < kEntries; ++i) AddBatch(idx, i);
    SLUICE_CHECK(idx->entries().size() == kEntries, "one entry per batch");
    return idx;
  }();
  return *index;
}

std::vector<uint64_t> Probes(uint64_t bound) {
  std::mt19937_64 rng(7);
  std::vector<uint64_t> out(kProbes);
  for (uint64_t& p : out) p = rng() % bound;
  return out;
}

void BM_IndexLookupOffset(benchmark::State& state) {
  const Index& index = FullIndex();
  const std::vector<uint64_t> probes = Probes(kEntries * kRecordsPerBatch);
  size_t i = 0;
  for (auto _ : state) {
    uint64_t pos = index.LookupOffset(SequenceNumber(probes[i++ & (kProbes - 1)]));
    benchmark::DoNotOptimize(pos);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["entries"] = static_cast<double>(index.entries().size());
}
BENCHMARK(BM_IndexLookupOffset);

void BM_IndexLookupTimestamp(benchmark::State& state) {
  const Index& index = FullIndex();
  const std::vector<uint64_t> probes = Probes(kEntries * kRecordsPerBatch);
  size_t i = 0;
  for (auto _ : state) {
    uint64_t pos =
        index.LookupTimestamp(kT0 + static_cast<TimestampMs>(probes[i++ & (kProbes - 1)]));
    benchmark::DoNotOptimize(pos);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["entries"] = static_cast<double>(index.entries().size());
}
BENCHMARK(BM_IndexLookupTimestamp);

// Arg: batch bytes. 4096 (= kIndexIntervalBytes) adds an entry per batch; 512 one per eight.
// The index restarts every 1,000,000 batches (the vector's growth is part of the cost).
void BM_IndexAdd(benchmark::State& state) {
  const uint64_t batch_bytes = static_cast<uint64_t>(state.range(0));
  auto index = std::make_unique<Index>(SegmentId(0));
  uint64_t i = 0;
  for (auto _ : state) {
    if (i == kEntries) {
      index = std::make_unique<Index>(SegmentId(0));
      i = 0;
    }
    index->Add(SequenceNumber(i * kRecordsPerBatch), SequenceNumber((i + 1) * kRecordsPerBatch),
               format::kSegmentHeaderSize + i * batch_bytes, batch_bytes,
               kT0 + static_cast<TimestampMs>(i), false);
    ++i;
  }
  benchmark::DoNotOptimize(index->entries().data());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IndexAdd)->ArgName("batch_bytes")->Arg(512)->Arg(4096);

}  // namespace
}  // namespace sluice::log

BENCHMARK_MAIN();
