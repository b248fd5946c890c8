// SPDX-License-Identifier: Apache-2.0
#include "replication/local_log.h"

#include <algorithm>
#include <atomic>
#include <string_view>
#include <utility>

#include "log/base/checksum.h"
#include "log/base/coding.h"
#include "log/filename.h"
#include "log/record_batch.h"

namespace sluice::replication {
namespace {

// The `epochs` file: the known epoch (the seal) and the epoch cache, little-endian.
//
//   +--------+---------+-------------+-------+---------------------------+-----------+
//   | magic  | version | known epoch | count | count x (epoch, start)    | checksum  |
//   | 4 "SLEP"| 4 (=1) | 8           | 4     | 8 + 8 each                | 8 XXH3-64 |
//   +--------+---------+-------------+-------+---------------------------+-----------+
//
// The checksum covers every byte before it. Written whole to `epochs.tmp`, synced, renamed
// over `epochs`, and the directory synced: a reader sees the old file or the new one.
constexpr uint32_t kEpochsMagic = 0x50454C53;  // "SLEP" read as a little-endian uint32.
constexpr uint32_t kEpochsVersion = 1;
constexpr size_t kEpochsHeaderSize = 4     // magic
                                     + 4   // version
                                     + 8   // known epoch
                                     + 4;  // entry count
constexpr size_t kEpochEntrySize = 8       // epoch
                                   + 8;    // start offset
constexpr size_t kEpochsChecksumSize = 8;
static_assert(kEpochsHeaderSize == 20 && kEpochEntrySize == 16);

struct EpochState {
  Epoch known;
  std::vector<EpochEntry> cache;
};

std::string EncodeEpochs(const EpochState& st) {
  std::string out(kEpochsHeaderSize + st.cache.size() * kEpochEntrySize + kEpochsChecksumSize,
                  '\0');
  auto* p = reinterpret_cast<std::byte*>(out.data());
  EncodeFixed<uint32_t>(p, kEpochsMagic);
  EncodeFixed<uint32_t>(p + 4, kEpochsVersion);
  EncodeFixed<uint64_t>(p + 8, st.known.value());
  EncodeFixed<uint32_t>(p + 16, static_cast<uint32_t>(st.cache.size()));
  std::byte* e = p + kEpochsHeaderSize;
  for (const EpochEntry& entry : st.cache) {
    EncodeFixed<uint64_t>(e, entry.epoch.value());
    EncodeFixed<uint64_t>(e + 8, entry.start.value());
    e += kEpochEntrySize;
  }
  EncodeFixed<uint64_t>(e, Checksum({p, static_cast<size_t>(e - p)}));
  return out;
}

Result<EpochState> DecodeEpochs(const std::string& path, std::string_view bytes) {
  auto bad = [&](const std::string& why) { return Status::Corruption(path + ": " + why); };
  const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
  if (bytes.size() < kEpochsHeaderSize + kEpochsChecksumSize) {
    return bad("too short (" + std::to_string(bytes.size()) + " bytes)");
  }
  if (DecodeFixed<uint32_t>(p) != kEpochsMagic) return bad("bad magic");
  uint64_t count = DecodeFixed<uint32_t>(p + 16);
  size_t body = kEpochsHeaderSize + count * kEpochEntrySize;
  if (bytes.size() != body + kEpochsChecksumSize) {
    return bad("size " + std::to_string(bytes.size()) + " does not fit " + std::to_string(count) +
               " entries");
  }
  if (DecodeFixed<uint64_t>(p + body) != Checksum({p, body})) return bad("checksum mismatch");
  if (uint32_t v = DecodeFixed<uint32_t>(p + 4); v != kEpochsVersion) {
    return Status::NotSupported(path + ": unknown version " + std::to_string(v));
  }
  EpochState st{Epoch(DecodeFixed<uint64_t>(p + 8)), {}};
  for (uint64_t i = 0; i < count; ++i) {
    const std::byte* e = p + kEpochsHeaderSize + i * kEpochEntrySize;
    EpochEntry entry{Epoch(DecodeFixed<uint64_t>(e)), SequenceNumber(DecodeFixed<uint64_t>(e + 8))};
    bool ordered = st.cache.empty() ||
                   (entry.epoch > st.cache.back().epoch && entry.start > st.cache.back().start);
    if (entry.epoch == Epoch() || entry.epoch > st.known || !ordered) {
      return bad("entry " + std::to_string(i) + " (epoch " + std::to_string(entry.epoch.value()) +
                 ", start " + std::to_string(entry.start.value()) + ") is out of order");
    }
    st.cache.push_back(entry);
  }
  return st;
}

Result<EpochState> ReadEpochsFile(log::io::FileSystem* fs, const std::string& path) {
  SLUICE_ASSIGN_OR_RETURN(auto file, fs->Open(path, log::io::OpenOptions{.read_only = true}));
  SLUICE_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (size > (64u << 20)) return Status::Corruption(path + ": implausible size");
  std::string bytes(size, '\0');
  SLUICE_ASSIGN_OR_RETURN(
      size_t n, file->ReadAt(0, {reinterpret_cast<std::byte*>(bytes.data()), bytes.size()}));
  bytes.resize(n);
  return DecodeEpochs(path, bytes);
}

Status WriteEpochsFile(log::io::FileSystem* fs, const std::string& dir, const std::string& path,
                       const EpochState& st) {
  std::string tmp = log::TempFileName(path);
  if (fs->Exists(tmp)) SLUICE_TRY(fs->Remove(tmp));  // Left by a crash; Open never truncates.
  {
    SLUICE_ASSIGN_OR_RETURN(auto file, fs->Open(tmp, log::io::OpenOptions{.create = true}));
    SLUICE_TRY(file->WriteAtAndSync(0, log::AsBytes(EncodeEpochs(st))));
  }
  SLUICE_TRY(fs->Rename(tmp, path));
  return fs->SyncDir(dir);
}

// Fits the cache to a log that ends at `end`: entries starting at or past it hold no records
// and go; then the known epoch, if its entry went, restarts at `end` (appends continue in it).
std::vector<EpochEntry> FitCache(Epoch known, std::vector<EpochEntry> cache, SequenceNumber end) {
  while (!cache.empty() && cache.back().start >= end) cache.pop_back();
  if (known != Epoch() && (cache.empty() || cache.back().epoch < known)) {
    cache.push_back({known, end});
  }
  return cache;
}

}  // namespace

std::string LocalLog::EpochsFileName(const std::string& dir) { return dir + "/epochs"; }

Result<std::unique_ptr<LocalLog>> LocalLog::Open(log::io::FileSystem* fs, const std::string& dir,
                                                 LocalLogOptions options) {
  // The log announces durability advances (background syncs included) through on_durable;
  // the relay points at the LocalLog once it exists.
  auto relay = std::make_shared<std::atomic<LocalLog*>>(nullptr);
  log::LogOptions log_options = options.log;
  log_options.on_durable = [relay, user = options.log.on_durable](DurableWatermark d) {
    if (LocalLog* self = relay->load()) self->PublishVisible();
    if (user) user(d);
  };
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<log::Log> log, log::Log::Open(fs, dir, log_options));
  const std::string path = EpochsFileName(dir);
  EpochState st;
  bool write = false;
  if (!fs->Exists(path)) {
    if (log->start() != log->next_offset()) {
      return Status::Corruption(path + " is missing but the log holds records [" +
                                std::to_string(log->start().value()) + ", " +
                                std::to_string(log->next_offset().value()) + ")");
    }
    write = true;  // A fresh shard: from now on a missing file means a lost one.
  } else {
    SLUICE_ASSIGN_OR_RETURN(st, ReadEpochsFile(fs, path));
    std::vector<EpochEntry> fitted = FitCache(st.known, st.cache, log->next_offset());
    write = fitted != st.cache;
    st.cache = std::move(fitted);
  }
  if (write) {
    SLUICE_TRY(WriteEpochsFile(fs, dir, path, st));
  } else if (std::string tmp = log::TempFileName(path); fs->Exists(tmp)) {
    SLUICE_TRY(fs->Remove(tmp));
  }
  std::unique_ptr<LocalLog> out(
      new LocalLog(fs, dir, std::move(options), std::move(log), st.known, std::move(st.cache)));
  relay->store(out.get());
  return out;
}

LocalLog::LocalLog(log::io::FileSystem* fs, std::string dir, LocalLogOptions options,
                   std::unique_ptr<log::Log> log, Epoch epoch, std::vector<EpochEntry> cache)
    : fs_(fs),
      dir_(std::move(dir)),
      opts_(std::move(options)),
      log_(std::move(log)),
      epoch_(epoch),
      cache_(std::move(cache)),
      published_(log_->durable().value()) {}

LocalLog::~LocalLog() { (void)Close(); }

Status LocalLog::Close() {
  {
    MutexLock l(&mu_);
    if (closed_) return Status::OK();
    closed_ = true;
    visible_cv_.notify_all();
    gate_cv_.SignalAll();
  }
  return log_->Close();
}

// --- Writes ----------------------------------------------------------------------------------

Result<Epoch> LocalLog::EnterAppend() {
  MutexLock l(&mu_);
  while (changing_ && !closed_) gate_cv_.Wait();
  if (closed_) return Status::Aborted("log is closed");
  ++appends_in_flight_;
  return epoch_;
}

void LocalLog::LeaveAppend() {
  MutexLock l(&mu_);
  if (--appends_in_flight_ == 0) gate_cv_.SignalAll();
}

Result<log::AppendResult> LocalLog::Append(std::span<const std::byte> batch) {
  SLUICE_ASSIGN_OR_RETURN(Epoch epoch, EnterAppend());
  Result<log::AppendResult> r = log_->Append(batch, epoch);
  LeaveAppend();
  if (r.ok()) PublishVisible();
  return r;
}

std::vector<Result<log::AppendResult>> LocalLog::AppendBatches(
    std::span<const std::span<const std::byte>> batches) {
  Result<Epoch> epoch = EnterAppend();
  if (!epoch.ok()) return std::vector<Result<log::AppendResult>>(batches.size(), epoch.status());
  std::vector<Result<log::AppendResult>> r = log_->AppendBatches(batches, *epoch);
  LeaveAppend();
  if (std::any_of(r.begin(), r.end(), [](const auto& x) { return x.ok(); })) PublishVisible();
  return r;
}

Status LocalLog::Sync() {
  Status s = log_->Sync();
  if (s.ok()) PublishVisible();
  return s;
}

Status LocalLog::Exclusive(const std::function<Status()>& fn) {
  {
    MutexLock l(&mu_);
    while (changing_ && !closed_) gate_cv_.Wait();
    if (closed_) return Status::Aborted("log is closed");
    changing_ = true;  // Holds off new appends; wait for those in flight.
    while (appends_in_flight_ > 0) gate_cv_.Wait();
  }
  Status s = fn();
  MutexLock l(&mu_);
  changing_ = false;
  gate_cv_.SignalAll();
  return s;
}

Status LocalLog::Commit(Epoch epoch, std::vector<EpochEntry> cache) {
  SLUICE_TRY(WriteEpochsFile(fs_, dir_, EpochsFileName(dir_), EpochState{epoch, cache}));
  MutexLock l(&mu_);
  epoch_ = epoch;
  cache_ = std::move(cache);
  return Status::OK();
}

Status LocalLog::BecomeLeader(Epoch epoch) {
  return Exclusive([&]() -> Status {
    std::vector<EpochEntry> cache;
    {
      MutexLock l(&mu_);
      if (epoch <= epoch_) {
        return Status::InvalidArgument("epoch " + std::to_string(epoch.value()) +
                                       " does not follow the current epoch " +
                                       std::to_string(epoch_.value()));
      }
      cache = cache_;
    }
    // No append is in flight, so the new epoch starts exactly at the end of the old one's.
    SequenceNumber start = log_->next_offset();
    while (!cache.empty() && cache.back().start >= start) cache.pop_back();  // Held nothing.
    cache.push_back({epoch, start});
    return Commit(epoch, std::move(cache));
  });
}

Status LocalLog::TruncateAfter(SequenceNumber last_kept) {
  return Exclusive([&]() -> Status {
    // The log first: a crash before the cache is rewritten leaves entries past the end,
    // which Open drops.
    SLUICE_TRY(log_->TruncateAfter(last_kept));
    Epoch epoch;
    std::vector<EpochEntry> cache;
    {
      MutexLock l(&mu_);
      published_ = std::min(published_, log_->durable().value());
      epoch = epoch_;
      cache = cache_;
    }
    std::vector<EpochEntry> fitted = FitCache(epoch, cache, log_->next_offset());
    if (fitted == cache) return Status::OK();
    return Commit(epoch, std::move(fitted));
  });
}

Result<log::RetentionResult> LocalLog::EnforceRetention() { return log_->EnforceRetention(); }

// --- Reads -----------------------------------------------------------------------------------

Result<log::ReadResult> LocalLog::Read(SequenceNumber from, log::ReadOptions opts) const {
  SequenceNumber end(visible().value());
  opts.upto = opts.upto ? std::min(*opts.upto, end) : end;
  return log_->Read(from, opts);
}

Result<SequenceNumber> LocalLog::LookupTimestamp(TimestampMs ts) const {
  SLUICE_ASSIGN_OR_RETURN(SequenceNumber at, log_->LookupTimestamp(ts));
  return std::min(at, SequenceNumber(visible().value()));
}

VisibleWatermark LocalLog::visible() const { return VisibleWatermark(log_->durable().value()); }
DurableWatermark LocalLog::durable() const { return log_->durable(); }
WrittenWatermark LocalLog::written() const { return log_->written(); }
SequenceNumber LocalLog::start() const { return log_->start(); }
SequenceNumber LocalLog::next_offset() const { return log_->next_offset(); }

// --- Epochs ----------------------------------------------------------------------------------

Epoch LocalLog::epoch() const {
  MutexLock l(&mu_);
  return epoch_;
}

std::vector<EpochEntry> LocalLog::epoch_cache() const {
  MutexLock l(&mu_);
  return cache_;
}

Result<SequenceNumber> LocalLog::EpochStartOffset(Epoch epoch) const {
  MutexLock l(&mu_);
  for (const EpochEntry& e : cache_) {
    if (e.epoch == epoch) return e.start;
  }
  return Status::NotFound("epoch " + std::to_string(epoch.value()) + " is not in the cache");
}

EpochEndOffset LocalLog::OffsetForLeaderEpoch(Epoch epoch) const {
  MutexLock l(&mu_);
  // The first entry of a later epoch; the one before it (if any) is the answer.
  auto later = std::upper_bound(cache_.begin(), cache_.end(), epoch,
                                [](Epoch e, const EpochEntry& entry) { return e < entry.epoch; });
  SequenceNumber end = later == cache_.end() ? log_->next_offset() : later->start;
  return {later == cache_.begin() ? Epoch() : std::prev(later)->epoch, end};
}

// --- Waiting ---------------------------------------------------------------------------------

void LocalLog::WaitUntil(std::condition_variable* cv, Deadline deadline) {
  std::unique_lock<std::mutex> lock(mu_.native(), std::adopt_lock);
  cv->wait_until(lock, deadline);
  lock.release();  // mu_ stays held, as on entry.
}

Result<VisibleWatermark> LocalLog::WaitForVisible(SequenceNumber from, Deadline deadline) {
  MutexLock l(&mu_);
  for (;;) {
    if (closed_) return Status::Aborted("log is closed");
    // Checked under mu_, which every publisher takes before notifying: no lost wake-up.
    VisibleWatermark v(log_->durable().value());
    if (v.value() > from.value() || std::chrono::steady_clock::now() >= deadline) return v;
    WaitUntil(&visible_cv_, deadline);
  }
}

void LocalLog::OnVisible(VisibleListener listener) {
  auto shared = listener ? std::make_shared<const VisibleListener>(std::move(listener)) : nullptr;
  MutexLock l(&mu_);
  listener_ = std::move(shared);
}

void LocalLog::PublishVisible() {
  std::shared_ptr<const VisibleListener> listener;
  VisibleWatermark v;
  {
    MutexLock l(&mu_);
    v = VisibleWatermark(log_->durable().value());
    if (v.value() <= published_) return;
    published_ = v.value();
    visible_cv_.notify_all();
    listener = listener_;
  }
  if (listener) (*listener)(v);
}

}  // namespace sluice::replication
