// SPDX-License-Identifier: Apache-2.0
// Log read throughput (log/log.h): sequential 1 MiB reads of a pre-written ~256 MiB log, with
// and without decoding the records. Arg cold: 1 evicts the segments from the page cache
// (posix_fadvise DONTNEED, untimed) before every pass over the log; 0 reads from the cache.
// Data goes under $SLUICE_BENCH_DIR (default /tmp/sluice-bench). Build Release to quote figures.
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include "log/io/file.h"
#include "log/log.h"
#include "log/record_batch.h"
#include "tests/support/batches.h"

namespace sluice::log {
namespace {

constexpr uint32_t kRecords = 1000;  // Per batch, 100-byte values: ~112 KiB batches.
constexpr uint64_t kLogBytes = 256 << 20;

std::string BenchRoot() {
  const char* env = std::getenv("SLUICE_BENCH_DIR");
  return env != nullptr && *env != '\0' ? env : "/tmp/sluice-bench";
}

// The log every benchmark here reads: written once (durability never), closed, removed at exit.
// Each benchmark run opens it (untimed) and closes it before returning: a Log must not outlive
// main() on io_uring, whose per-thread ring is gone by the time static destructors run.
struct Fixture {
  std::string dir;
  std::unique_ptr<io::FileSystem> fs;
  uint64_t bytes = 0;

  Fixture() {
    dir = BenchRoot() + "/read-" + std::to_string(getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto f = io::MakeFileSystem(io::Backend::kAuto);
    SLUICE_CHECK(f.ok(), "MakeFileSystem");
    fs = std::move(f).value();
    std::unique_ptr<Log> log = Open();
    for (uint64_t tag = 0; bytes < kLogBytes; ++tag) {
      const std::string batch = testing::MakeBatch(tag, kRecords, 100);
      SLUICE_CHECK(log->Append(AsBytes(batch)).ok(), "Append");
      bytes += batch.size();
    }
    SLUICE_CHECK(log->Close().ok(), "Close");
  }
  ~Fixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::unique_ptr<Log> Open() const {
    LogOptions opts;
    opts.durability = Durability::Never();
    auto l = Log::Open(fs.get(), dir, opts);
    SLUICE_CHECK(l.ok(), "Log::Open");
    return std::move(l).value();
  }

  // Drops the segments' pages from the page cache (they are clean: written and synced).
  void Evict() const {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      int fd = ::open(e.path().c_str(), O_RDONLY);
      if (fd < 0) continue;
      (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      ::close(fd);
    }
  }
};

Fixture& Shared() {
  static Fixture f;  // Built on first use, removed at exit.
  return f;
}

// Reads the whole log front to back per pass, one Read of up to 1 MiB per iteration. The
// returned bytes are the stored batches, validated (checksums) and copied.
void ReadLoop(benchmark::State& state, bool decode) {
  const Fixture& f = Shared();
  const std::unique_ptr<Log> log = f.Open();
  const bool cold = state.range(0) != 0;
  SequenceNumber from;
  const SequenceNumber end = log->next_offset();
  int64_t bytes = 0, records = 0, reads = 0;
  std::string scratch;
  if (cold) f.Evict();
  for (auto _ : state) {
    if (from == end) {
      from = SequenceNumber();
      if (cold) {
        state.PauseTiming();
        f.Evict();
        state.ResumeTiming();
      }
    }
    Result<ReadResult> r = log->Read(from, ReadOptions{.max_bytes = 1 << 20});
    if (!r.ok() || r->batch_count == 0) {
      state.SkipWithError(r.ok() ? "empty read" : r.status().ToString().c_str());
      break;
    }
    if (decode) {
      for (const RecordBatchView& b : r->Batches()) {
        Result<std::vector<Record>> recs = b.DecodeRecords(&scratch);
        if (!recs.ok()) {
          state.SkipWithError(recs.status().ToString().c_str());
          break;
        }
        records += static_cast<int64_t>(recs->size());
        benchmark::DoNotOptimize(recs->data());
      }
    } else {
      records += static_cast<int64_t>(r->next.value() - from.value());
    }
    bytes += static_cast<int64_t>(r->bytes.size());
    ++reads;
    from = r->next;
  }
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(records);
  state.counters["read_bytes"] = reads ? static_cast<double>(bytes) / reads : 0;
  state.counters["log_mib"] = static_cast<double>(f.bytes) / (1 << 20);
}

void BM_ReadSequential(benchmark::State& state) { ReadLoop(state, false); }
BENCHMARK(BM_ReadSequential)->ArgName("cold")->Arg(0)->Arg(1)->UseRealTime();

void BM_ReadDecode(benchmark::State& state) { ReadLoop(state, true); }
BENCHMARK(BM_ReadDecode)->ArgName("cold")->Arg(0)->Arg(1)->UseRealTime();

}  // namespace
}  // namespace sluice::log

BENCHMARK_MAIN();
