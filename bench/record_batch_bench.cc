// SPDX-License-Identifier: Apache-2.0
// Record batch encode and decode throughput (log/record_batch). Build Release to quote figures.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "log/record_batch.h"

namespace sluice::log {
namespace {

constexpr int kRecords = 1000;
constexpr size_t kValueBytes = 100;

// Values that look like small JSON events: partly repetitive, partly random, so that zstd has
// realistic work to do.
std::vector<std::string> MakeValues() {
  std::mt19937_64 rng(42);
  std::vector<std::string> values;
  values.reserve(kRecords);
  for (int i = 0; i < kRecords; ++i) {
    std::string v = "{\"event\":\"click\",\"user\":" + std::to_string(rng() % 100000) + ",\"x\":\"";
    while (v.size() < kValueBytes - 2) v.push_back(static_cast<char>('a' + rng() % 26));
    v += "\"}";
    values.push_back(std::move(v));
  }
  return values;
}

std::string Build(RecordBatchBuilder& b, const std::vector<std::string>& values) {
  for (int i = 0; i < kRecords; ++i) {
    b.Add("user-key", values[i], 1'700'000'000'000 + i);
  }
  Result<std::string> batch = b.Finish();
  SLUICE_CHECK(batch.ok(), "Finish failed");
  return std::move(batch).value();
}

void BuildBatch(benchmark::State& state, format::Codec codec) {
  const std::vector<std::string> values = MakeValues();
  RecordBatchBuilder b(codec, 1);
  size_t batch_bytes = 0;
  for (auto _ : state) {
    std::string batch = Build(b, values);
    batch_bytes = batch.size();
    benchmark::DoNotOptimize(batch.data());
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
  state.SetBytesProcessed(state.iterations() * kRecords * kValueBytes);
  state.counters["batch_bytes"] = static_cast<double>(batch_bytes);
}

void BM_BuildBatch(benchmark::State& state) { BuildBatch(state, format::Codec::kNone); }
BENCHMARK(BM_BuildBatch);

void BM_BuildBatchZstd(benchmark::State& state) { BuildBatch(state, format::Codec::kZstd); }
BENCHMARK(BM_BuildBatchZstd);

// Arg: 0 = uncompressed, 1 = zstd.
void BM_ParseAndDecode(benchmark::State& state) {
  const auto codec = state.range(0) ? format::Codec::kZstd : format::Codec::kNone;
  RecordBatchBuilder b(codec, 1);
  const std::string batch = Build(b, MakeValues());
  std::string scratch;
  for (auto _ : state) {
    Result<RecordBatchView> view = RecordBatchView::Parse(AsBytes(batch));
    SLUICE_CHECK(view.ok(), "Parse failed");
    Result<std::vector<Record>> records = view->DecodeRecords(&scratch);
    SLUICE_CHECK(records.ok() && records->size() == kRecords, "DecodeRecords failed");
    benchmark::DoNotOptimize(records->data());
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
  state.SetBytesProcessed(state.iterations() * kRecords * kValueBytes);
  state.counters["batch_bytes"] = static_cast<double>(batch.size());
}
BENCHMARK(BM_ParseAndDecode)->ArgName("zstd")->Arg(0)->Arg(1);

}  // namespace
}  // namespace sluice::log

BENCHMARK_MAIN();
