// SPDX-License-Identifier: Apache-2.0
// Log::Open time (log/log.h): recovery of a large shard whose active segment is full and was
// never closed, and opening a log of 10 000 segments (time and RSS growth).
// Data goes under $SLUICE_BENCH_DIR (default /tmp/sluice-bench); SLUICE_BENCH_SHARD_GIB
// overrides the shard size (default 10 GiB when the disk has room, else 2). Build Release.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <malloc.h>
#include <memory>
#include <string>
#include <sys/statvfs.h>
#include <sys/wait.h>
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

std::string FreshDir(const std::string& name) {
  std::string dir = BenchRoot() + "/" + name + "-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

io::FileSystem* Fs() {
  static std::unique_ptr<io::FileSystem> fs = [] {
    auto f = io::MakeFileSystem(io::Backend::kAuto);
    SLUICE_CHECK(f.ok(), "MakeFileSystem");
    return std::move(f).value();
  }();
  return fs.get();
}

double VmRssMiB() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024;  // kB.
  }
  return 0;
}

// Times Log::Open of `dir` (the log is closed again untimed); `before` runs untimed first.
template <typename F>
std::unique_ptr<Log> TimedOpen(benchmark::State& state, const std::string& dir,
                               const LogOptions& opts, F before) {
  before();
  auto t0 = std::chrono::steady_clock::now();
  Result<std::unique_ptr<Log>> log = Log::Open(Fs(), dir, opts);
  state.SetIterationTime(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (!log.ok()) {
    state.SkipWithError(log.status().ToString().c_str());
    return nullptr;
  }
  return std::move(log).value();
}

// A shard of `shard_gib` GiB in `segment_mib` MiB segments, written with 1 MiB batches so that
// the active segment is full, synced, and left without Close (a child process writes it and
// exits). Built once per segment size; the previous shard is removed first.
struct Shard {
  std::string dir;
  uint64_t segment_mib = 0;
  uint64_t gib = 0;
  ~Shard() {
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

uint64_t ShardGib() {
  if (const char* env = std::getenv("SLUICE_BENCH_SHARD_GIB")) return std::stoull(env);
  struct statvfs sv {};
  std::filesystem::create_directories(BenchRoot());
  if (statvfs(BenchRoot().c_str(), &sv) != 0) return 2;
  const uint64_t free_gib = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize >> 30;
  return free_gib >= 10 + 8 ? 10 : 2;  // Keep 8 GiB spare for everyone else.
}

const Shard& GetShard(uint64_t segment_mib) {
  static Shard shard;
  if (shard.segment_mib == segment_mib) return shard;
  if (!shard.dir.empty()) std::filesystem::remove_all(shard.dir);
  shard.dir = FreshDir("shard-" + std::to_string(segment_mib));
  shard.segment_mib = segment_mib;
  shard.gib = ShardGib();
  const pid_t child = fork();  // The child writes and exits without Close, like a crash.
  SLUICE_CHECK(child >= 0, "fork");
  if (child == 0) {
    const std::string batch = testing::MakeBatch(1, 1000, 1000);  // ~1 MiB.
    LogOptions opts;
    opts.durability = Durability::Never();
    opts.segment_bytes = segment_mib << 20;
    auto fs = io::MakeFileSystem(io::Backend::kAuto);
    if (!fs.ok()) _exit(1);
    auto log = Log::Open(fs->get(), shard.dir, opts);
    if (!log.ok()) _exit(1);
    // Whole segments of whole batches: the active one ends up full.
    const uint64_t per_segment = (opts.segment_bytes - format::kSegmentHeaderSize) / batch.size();
    const uint64_t segments = std::max<uint64_t>(1, (shard.gib << 10) / segment_mib);
    for (uint64_t i = 0; i < segments * per_segment; ++i) {
      if (!(*log)->Append(AsBytes(batch)).ok()) _exit(1);
    }
    _exit((*log)->Sync().ok() ? 0 : 1);
  }
  int status = 0;
  SLUICE_CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "building the shard failed");
  return shard;
}

void Evict(const std::string& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    int fd = ::open(e.path().c_str(), O_RDONLY);
    if (fd < 0) continue;
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// Args: segment_mib (the active segment holds that much), cold (1: page cache evicted).
void BM_RecoverTail(benchmark::State& state) {
  const Shard& shard = GetShard(static_cast<uint64_t>(state.range(0)));
  const bool cold = state.range(1) != 0;
  LogOptions opts;
  opts.segment_bytes = shard.segment_mib << 20;
  uint64_t scanned = 0;
  size_t segments = 0;
  if (!cold) (void)Log::Open(Fs(), shard.dir, opts);  // Untimed: warms the page cache.
  for (auto _ : state) {
    auto log = TimedOpen(state, shard.dir, opts, [&] {
      if (cold) Evict(shard.dir);
    });
    if (!log) break;
    scanned = log->recovery_report().scanned_bytes;
    segments = log->segment_count();
  }
  state.counters["scanned_mib"] = static_cast<double>(scanned) / (1 << 20);
  state.counters["segments"] = static_cast<double>(segments);
  state.counters["shard_gib"] = static_cast<double>(shard.gib);
}
BENCHMARK(BM_RecoverTail)
    ->ArgNames({"segment_mib", "cold"})
    ->Args({128, 0})
    ->Args({128, 1})
    ->Args({1024, 0})
    ->Args({1024, 1})
    ->UseManualTime()
    ->MinTime(2)
    ->Unit(benchmark::kMillisecond);

// Passes everything through but makes every sync a no-op: builds 10 000 segments in seconds
// instead of the ~4 fdatasyncs per roll the log really issues.
class NoSyncFile final : public io::File {
 public:
  explicit NoSyncFile(std::unique_ptr<io::File> f) : f_(std::move(f)) {}
  Status WriteAt(uint64_t o, std::span<const std::byte> d) override { return f_->WriteAt(o, d); }
  Status WriteAtAndSync(uint64_t o, std::span<const std::byte> d) override {
    return f_->WriteAt(o, d);
  }
  Result<size_t> ReadAt(uint64_t o, std::span<std::byte> out) const override {
    return f_->ReadAt(o, out);
  }
  Status Sync() override { return Status::OK(); }
  Status Truncate(uint64_t size) override { return f_->Truncate(size); }
  Status Allocate(uint64_t o, uint64_t len) override { return f_->Allocate(o, len); }
  Result<uint64_t> Size() const override { return f_->Size(); }
  size_t Alignment() const override { return f_->Alignment(); }
  const std::string& path() const override { return f_->path(); }

 private:
  std::unique_ptr<io::File> f_;
};

class NoSyncFileSystem final : public io::FileSystem {
 public:
  explicit NoSyncFileSystem(io::FileSystem* fs) : fs_(fs) {}
  Result<std::unique_ptr<io::File>> Open(const std::string& path, io::OpenOptions o) override {
    SLUICE_ASSIGN_OR_RETURN(auto f, fs_->Open(path, o));
    return std::unique_ptr<io::File>(new NoSyncFile(std::move(f)));
  }
  Result<std::vector<std::string>> ListDir(const std::string& d) override {
    return fs_->ListDir(d);
  }
  Status CreateDirs(const std::string& d) override { return fs_->CreateDirs(d); }
  Status Remove(const std::string& p) override { return fs_->Remove(p); }
  Status Rename(const std::string& f, const std::string& t) override { return fs_->Rename(f, t); }
  Status SyncDir(const std::string&) override { return Status::OK(); }
  bool Exists(const std::string& p) override { return fs_->Exists(p); }
  const char* name() const override { return "nosync"; }

 private:
  io::FileSystem* fs_;
};

constexpr size_t kManySegments = 10'000;

// 10 000 segments of 8 KiB (one ~3 KiB batch each, so every append rolls), closed cleanly.
struct ManySegments {
  std::string dir = FreshDir("many");
  LogOptions opts;
  ManySegments() {
    opts.durability = Durability::Never();
    opts.segment_bytes = 8 << 10;
    opts.preallocate = false;
    const std::string batch = testing::MakeBatch(2, 20, 100);
    NoSyncFileSystem fs(Fs());
    auto log = Log::Open(&fs, dir, opts);
    SLUICE_CHECK(log.ok(), "Log::Open");
    while ((*log)->segment_count() < kManySegments) {
      SLUICE_CHECK((*log)->Append(AsBytes(batch)).ok(), "Append");
    }
    SLUICE_CHECK((*log)->Close().ok(), "Close");
    ::sync();  // Durable now, as if written long ago.
  }
  ~ManySegments() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

void BM_OpenManySegments(benchmark::State& state) {
  static ManySegments many;
  double rss_growth = 0;
  size_t segments = 0;
  std::unique_ptr<Log> log;
  for (auto _ : state) {
    log.reset();
    malloc_trim(0);  // Return freed heap so that this Open's growth shows in VmRSS.
    const double before = VmRssMiB();
    log = TimedOpen(state, many.dir, many.opts, [] {});
    if (!log) break;
    rss_growth = std::max(rss_growth, VmRssMiB() - before);
    segments = log->segment_count();
  }
  state.counters["segments"] = static_cast<double>(segments);
  state.counters["rss_growth_mib"] = rss_growth;
}
BENCHMARK(BM_OpenManySegments)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::log

BENCHMARK_MAIN();
