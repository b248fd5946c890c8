// SPDX-License-Identifier: Apache-2.0
// Log append throughput (log/log.h): durable 1 MiB batches against fio's fdatasync ceiling
// (bench/fio_compare), small records without fsync, and group commit across threads.
// Data goes under $SLUICE_BENCH_DIR (default /tmp/sluice-bench). Build Release to quote figures.
#include <cstdint>
#include <cstdlib>
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

std::string BenchRoot() {
  const char* env = std::getenv("SLUICE_BENCH_DIR");
  return env != nullptr && *env != '\0' ? env : "/tmp/sluice-bench";
}

// A fresh directory under BenchRoot(), removed with its contents on destruction.
class BenchDir {
 public:
  explicit BenchDir(const std::string& name) {
    static int seq = 0;
    path_ = BenchRoot() + "/" + name + "-" + std::to_string(getpid()) + "-" + std::to_string(++seq);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~BenchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One batch of exactly `target` bytes: records with `value_bytes` values, the last one sized to
// fill the batch exactly (1 MiB batches keep O_DIRECT writes page-aligned, like fio's).
std::string ExactBatch(size_t target, size_t value_bytes, uint32_t* records) {
  const std::string value(value_bytes, 'x');
  for (size_t slack = 0; slack < 64; ++slack) {
    RecordBatchBuilder b;
    uint32_t n = 0;
    while (b.UncompressedBytes() + 2 * value_bytes + 64 < target) {
      b.Add("key-" + std::to_string(n), value, 1'700'000'000'000 + n);
      ++n;
    }
    size_t rest = target - b.UncompressedBytes();
    b.Add("last", std::string(rest - 64 + slack, 'y'), 1'700'000'000'000 + n);
    ++n;
    Result<std::string> out = b.Finish();
    SLUICE_CHECK(out.ok(), "ExactBatch");
    if (out->size() == target) {
      *records = n;
      return std::move(out).value();
    }
    if (out->size() > target) break;
  }
  SLUICE_CHECK(false, "ExactBatch could not hit the target size");
  return {};
}

std::unique_ptr<io::FileSystem> MakeFs(benchmark::State& state, io::Backend backend) {
  Result<std::unique_ptr<io::FileSystem>> fs = io::MakeFileSystem(backend);
  if (!fs.ok()) {
    state.SkipWithError(fs.status().ToString().c_str());
    return nullptr;
  }
  return std::move(fs).value();
}

std::unique_ptr<Log> OpenLog(benchmark::State& state, io::FileSystem* fs, const std::string& dir,
                             LogOptions opts) {
  Result<std::unique_ptr<Log>> log = Log::Open(fs, dir, std::move(opts));
  if (!log.ok()) {
    state.SkipWithError(log.status().ToString().c_str());
    return nullptr;
  }
  return std::move(log).value();
}

void ReportStats(benchmark::State& state, const Log& log, uint32_t records_per_batch) {
  const LogStats st = log.stats();
  const double syncs = static_cast<double>(st.syncs);
  state.counters["fsyncs"] = syncs;
  state.counters["fsyncs_per_s"] = benchmark::Counter(syncs, benchmark::Counter::kIsRate);
  state.counters["batches_per_write"] =
      st.group_commits ? static_cast<double>(st.appends) / st.group_commits : 0;
  state.counters["records_per_fsync"] =
      st.syncs ? static_cast<double>(st.appends) * records_per_batch / syncs : 0;
  state.counters["rolls"] = static_cast<double>(st.rolls);
  state.counters["direct_io"] = log.direct_io() ? 1 : 0;
}

// Args: backend (0 = io_uring, 1 = posix), direct_io (0/1). One fdatasync per 1 MiB batch.
void BM_AppendAlways(benchmark::State& state) {
  auto fs = MakeFs(state, state.range(0) == 0 ? io::Backend::kUring : io::Backend::kPosix);
  if (!fs) return;
  uint32_t records = 0;
  const std::string batch = ExactBatch(1 << 20, 1000, &records);
  BenchDir dir("append-always");
  LogOptions opts;
  opts.durability = Durability::Always();
  opts.direct_io = state.range(1) != 0;
  auto log = OpenLog(state, fs.get(), dir.path(), opts);
  if (!log) return;
  for (auto _ : state) {
    Result<AppendResult> r = log->Append(AsBytes(batch));
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(batch.size()));
  state.SetItemsProcessed(state.iterations() * records);
  ReportStats(state, *log, records);
  state.SetLabel(fs->name());
}
BENCHMARK(BM_AppendAlways)
    ->ArgNames({"posix", "direct"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// 1000 records of 100 bytes per batch, durability never, one thread. Args as BM_AppendAlways.
void BM_AppendNeverSmallRecords(benchmark::State& state) {
  auto fs = MakeFs(state, state.range(0) == 0 ? io::Backend::kUring : io::Backend::kPosix);
  if (!fs) return;
  constexpr uint32_t kRecords = 1000;
  const std::string batch = testing::MakeBatch(1, kRecords, 100);
  BenchDir dir("append-never");
  LogOptions opts;
  opts.durability = Durability::Never();
  opts.direct_io = state.range(1) != 0;
  auto log = OpenLog(state, fs.get(), dir.path(), opts);
  if (!log) return;
  for (auto _ : state) {
    Result<AppendResult> r = log->Append(AsBytes(batch));
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(batch.size()));
  state.counters["batch_bytes"] = static_cast<double>(batch.size());
  ReportStats(state, *log, kRecords);
  state.SetLabel(fs->name());
}
BENCHMARK(BM_AppendNeverSmallRecords)
    ->ArgNames({"posix", "direct"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->UseRealTime();

// Several threads append 4 KiB batches (100-byte records) with durability always: the group
// leader writes every waiting batch with one write and one fdatasync.
struct GroupCommitLog {
  std::unique_ptr<io::FileSystem> fs;
  std::unique_ptr<BenchDir> dir;
  std::unique_ptr<Log> log;
};
GroupCommitLog* group_commit = nullptr;

void BM_AppendGroupCommit(benchmark::State& state) {
  static uint32_t records = 0;
  static const std::string batch = ExactBatch(4096, 100, &records);  // Built once, read-only.
  if (state.thread_index() == 0) {  // The other threads wait at the loop's start barrier.
    group_commit = new GroupCommitLog;
    group_commit->fs = MakeFs(state, io::Backend::kAuto);
    group_commit->dir = std::make_unique<BenchDir>("append-group");
    if (group_commit->fs) {
      group_commit->log =
          OpenLog(state, group_commit->fs.get(), group_commit->dir->path(), LogOptions{});
    }
  }
  for (auto _ : state) {
    Log* log = group_commit->log.get();
    if (log == nullptr) break;
    Result<AppendResult> r = log->Append(AsBytes(batch));
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * records);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(batch.size()));
  if (state.thread_index() == 0) {  // After the loop's stop barrier: every thread is done.
    if (group_commit->log) {
      ReportStats(state, *group_commit->log, records);
      state.SetLabel(group_commit->fs->name());
    }
    delete group_commit;
    group_commit = nullptr;
  }
}
BENCHMARK(BM_AppendGroupCommit)->Threads(1)->Threads(2)->Threads(8)->UseRealTime();

}  // namespace
}  // namespace sluice::log

BENCHMARK_MAIN();
