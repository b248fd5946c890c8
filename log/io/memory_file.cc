// SPDX-License-Identifier: Apache-2.0
#include "log/io/memory_file.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_set>

namespace sluice::log::io {
namespace {

// Contents of one file. Guarded by State::mu (not expressible as an annotation here).
struct Inode {
  std::string data;    // Current bytes.
  std::string synced;  // Bytes at the last Sync: what survives Crash().
  uint64_t unsynced_bytes = 0;
};

using NameTable = std::map<std::string, std::shared_ptr<Inode>>;

struct Directory {
  NameTable current;
  NameTable durable;  // As of the last SyncDir; what survives Crash().
};

// "/a/b/c" -> "/a/b"; "/a" -> "/"; trailing slashes are ignored.
std::string Normalize(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}
std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}
std::string Base(const std::string& path) { return path.substr(path.rfind('/') + 1); }

Status Stale(const std::string& path) {
  return Status::IOError(path + ": stale file handle (file system crashed)");
}

}  // namespace

struct MemoryFileSystem::State {
  Mutex mu;
  std::map<std::string, Directory> dirs GUARDED_BY(mu);  // Normalized path -> directory.
  uint64_t epoch GUARDED_BY(mu) = 0;                     // Incremented by Crash().
  int fail_writes GUARDED_BY(mu) = 0;
  Status fail_status GUARDED_BY(mu);
  bool short_write GUARDED_BY(mu) = false;
  size_t short_keep GUARDED_BY(mu) = 0;
  uint64_t capacity GUARDED_BY(mu) = UINT64_MAX;
  std::map<std::string, int> fail_reads GUARDED_BY(mu);
  uint64_t sync_count GUARDED_BY(mu) = 0;

  // Every inode named in a current table, once each.
  std::vector<Inode*> LiveInodes() REQUIRES(mu) {
    std::unordered_set<Inode*> seen;
    std::vector<Inode*> out;
    for (auto& [path, dir] : dirs) {
      for (auto& [name, inode] : dir.current) {
        if (seen.insert(inode.get()).second) out.push_back(inode.get());
      }
    }
    return out;
  }
  uint64_t UsedBytes() REQUIRES(mu) {
    uint64_t used = 0;
    for (const Inode* inode : LiveInodes()) used += inode->data.size();
    return used;
  }
  // The inode at `path` in the current tables, or nullptr.
  std::shared_ptr<Inode> Find(const std::string& path) REQUIRES(mu) {
    auto d = dirs.find(Parent(path));
    if (d == dirs.end()) return nullptr;
    auto f = d->second.current.find(Base(path));
    return f == d->second.current.end() ? nullptr : f->second;
  }
  // Consumes one injected write failure, if any.
  bool TakeWriteFailure(Status* out) REQUIRES(mu) {
    if (fail_writes <= 0) return false;
    --fail_writes;
    *out = fail_status;
    return true;
  }
};

// A handle on one inode. Fails with IOError once the file system has crashed since Open.
class MemoryFile final : public File {
 public:
  MemoryFile(std::shared_ptr<MemoryFileSystem::State> state, std::shared_ptr<Inode> inode,
             std::string path, bool read_only, uint64_t epoch)
      : state_(std::move(state)),
        inode_(std::move(inode)),
        path_(std::move(path)),
        read_only_(read_only),
        epoch_(epoch) {}

  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override {
    MutexLock l(&state_->mu);
    return WriteLocked(offset, data);
  }

  Status WriteAtAndSync(uint64_t offset, std::span<const std::byte> data) override {
    MutexLock l(&state_->mu);
    SLUICE_TRY(WriteLocked(offset, data));
    SyncLocked();
    return Status::OK();
  }

  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> out) const override {
    MutexLock l(&state_->mu);
    if (state_->epoch != epoch_) return Stale(path_);
    auto it = state_->fail_reads.find(path_);
    if (it != state_->fail_reads.end() && it->second > 0) {
      if (--it->second == 0) state_->fail_reads.erase(it);
      return Status::IOError("read " + path_ + ": EIO (injected)");
    }
    const std::string& d = inode_->data;
    if (offset >= d.size()) return size_t{0};
    const size_t n = std::min<uint64_t>(out.size(), d.size() - offset);
    std::memcpy(out.data(), d.data() + offset, n);
    return n;
  }

  Status Sync() override {
    MutexLock l(&state_->mu);
    SLUICE_TRY(CheckWritable());
    SyncLocked();
    return Status::OK();
  }

  Status Truncate(uint64_t size) override {
    MutexLock l(&state_->mu);
    SLUICE_TRY(CheckWritable());
    return Resize(size, "truncate");
  }

  Status Allocate(uint64_t offset, uint64_t len) override {
    MutexLock l(&state_->mu);
    SLUICE_TRY(CheckWritable());
    if (offset + len <= inode_->data.size()) return Status::OK();
    return Resize(offset + len, "allocate");
  }

  Result<uint64_t> Size() const override {
    MutexLock l(&state_->mu);
    if (state_->epoch != epoch_) return Stale(path_);
    return uint64_t{inode_->data.size()};
  }

  size_t Alignment() const override { return 1; }
  const std::string& path() const override { return path_; }

 private:
  // Stale handle, read-only handle or an injected failure (which consumes one).
  Status CheckWritable() REQUIRES(state_->mu) {
    if (state_->epoch != epoch_) return Stale(path_);
    if (read_only_) return Status::IOError(path_ + ": opened read-only");
    Status injected;
    if (state_->TakeWriteFailure(&injected)) return injected;
    return Status::OK();
  }

  Status WriteLocked(uint64_t offset, std::span<const std::byte> data) REQUIRES(state_->mu) {
    SLUICE_TRY(CheckWritable());
    std::string& d = inode_->data;
    size_t keep = data.size();
    Status status;
    if (state_->short_write) {
      state_->short_write = false;
      keep = std::min(keep, state_->short_keep);
      status = Status::IOError("write " + path_ + ": short write (injected)");
    }
    const uint64_t end = offset + keep;
    if (end > d.size() && state_->capacity != UINT64_MAX) {
      const uint64_t used = state_->UsedBytes();
      const uint64_t room = state_->capacity > used ? state_->capacity - used : 0;
      if (end - d.size() > room) {
        const uint64_t limit = d.size() + room;  // The file may grow up to here.
        keep = limit > offset ? static_cast<size_t>(limit - offset) : 0;
        status = Status::NoSpace("write " + path_ + ": no space left (capacity)");
      }
    }
    if (keep > 0) {
      if (offset + keep > d.size()) d.resize(offset + keep, '\0');
      std::memcpy(d.data() + offset, data.data(), keep);
      inode_->unsynced_bytes += keep;
    }
    return status;
  }

  Status Resize(uint64_t size, const char* op) REQUIRES(state_->mu) {
    std::string& d = inode_->data;
    if (size > d.size() && state_->capacity != UINT64_MAX &&
        state_->UsedBytes() + (size - d.size()) > state_->capacity) {
      return Status::NoSpace(std::string(op) + " " + path_ + ": no space left (capacity)");
    }
    d.resize(size, '\0');
    return Status::OK();
  }

  void SyncLocked() REQUIRES(state_->mu) {
    inode_->synced = inode_->data;
    inode_->unsynced_bytes = 0;
    ++state_->sync_count;
  }

  const std::shared_ptr<MemoryFileSystem::State> state_;
  const std::shared_ptr<Inode> inode_;
  const std::string path_;
  const bool read_only_;
  const uint64_t epoch_;
};

MemoryFileSystem::MemoryFileSystem() : state_(std::make_shared<State>()) {
  MutexLock l(&state_->mu);
  state_->dirs["/"];
  state_->dirs["."];
}

MemoryFileSystem::~MemoryFileSystem() = default;

Result<std::unique_ptr<File>> MemoryFileSystem::Open(const std::string& raw, OpenOptions opts) {
  const std::string path = Normalize(raw);
  MutexLock l(&state_->mu);
  if (state_->dirs.count(path)) return Status::IOError("open " + path + ": is a directory");
  auto d = state_->dirs.find(Parent(path));
  if (d == state_->dirs.end()) return Status::NotFound("open " + path + ": no such directory");
  std::shared_ptr<Inode>& slot = d->second.current[Base(path)];
  if (slot == nullptr) {
    if (!opts.create) {
      d->second.current.erase(Base(path));
      return Status::NotFound("open " + path + ": no such file");
    }
    slot = std::make_shared<Inode>();
  }
  return std::unique_ptr<File>(
      std::make_unique<MemoryFile>(state_, slot, path, opts.read_only, state_->epoch));
}

Result<std::vector<std::string>> MemoryFileSystem::ListDir(const std::string& raw) {
  const std::string dir = Normalize(raw);
  MutexLock l(&state_->mu);
  auto d = state_->dirs.find(dir);
  if (d == state_->dirs.end()) return Status::NotFound("opendir " + dir);
  std::vector<std::string> names;
  for (const auto& [name, inode] : d->second.current) names.push_back(name);
  for (const auto& [path, sub] : state_->dirs) {
    if (path != dir && Parent(path) == dir) names.push_back(Base(path));
  }
  return names;
}

Status MemoryFileSystem::CreateDirs(const std::string& raw) {
  const std::string dir = Normalize(raw);
  MutexLock l(&state_->mu);
  // Directories are durable as soon as they exist (see memory_file.h).
  for (std::string p = dir; !state_->dirs.count(p); p = Parent(p)) {
    if (state_->Find(p) != nullptr) return Status::IOError("mkdir " + p + ": is a file");
    state_->dirs[p];
  }
  return Status::OK();
}

Status MemoryFileSystem::Remove(const std::string& raw) {
  const std::string path = Normalize(raw);
  MutexLock l(&state_->mu);
  auto d = state_->dirs.find(Parent(path));
  if (d != state_->dirs.end() && d->second.current.erase(Base(path)) > 0) return Status::OK();
  return Status::NotFound("remove " + path);
}

Status MemoryFileSystem::Rename(const std::string& raw_from, const std::string& raw_to) {
  const std::string from = Normalize(raw_from);
  const std::string to = Normalize(raw_to);
  MutexLock l(&state_->mu);
  auto fd = state_->dirs.find(Parent(from));
  auto td = state_->dirs.find(Parent(to));
  if (fd == state_->dirs.end() || !fd->second.current.count(Base(from))) {
    return Status::NotFound("rename " + from + " -> " + to);
  }
  if (td == state_->dirs.end()) return Status::NotFound("rename " + from + " -> " + to);
  std::shared_ptr<Inode> inode = fd->second.current[Base(from)];
  fd->second.current.erase(Base(from));
  td->second.current[Base(to)] = std::move(inode);
  return Status::OK();
}

Status MemoryFileSystem::SyncDir(const std::string& raw) {
  const std::string dir = Normalize(raw);
  MutexLock l(&state_->mu);
  auto d = state_->dirs.find(dir);
  if (d == state_->dirs.end()) return Status::NotFound("fsync " + dir);
  d->second.durable = d->second.current;
  return Status::OK();
}

bool MemoryFileSystem::Exists(const std::string& raw) {
  const std::string path = Normalize(raw);
  MutexLock l(&state_->mu);
  return state_->dirs.count(path) > 0 || state_->Find(path) != nullptr;
}

void MemoryFileSystem::FailNextWrites(int n, Status status) {
  MutexLock l(&state_->mu);
  state_->fail_writes = n;
  state_->fail_status = std::move(status);
}

void MemoryFileSystem::ShortWriteNext(size_t keep) {
  MutexLock l(&state_->mu);
  state_->short_write = true;
  state_->short_keep = keep;
}

void MemoryFileSystem::SetCapacity(uint64_t bytes) {
  MutexLock l(&state_->mu);
  state_->capacity = bytes;
}

void MemoryFileSystem::FailNextReads(const std::string& path, int n) {
  MutexLock l(&state_->mu);
  state_->fail_reads[Normalize(path)] = n;
}

Status MemoryFileSystem::FlipBit(const std::string& raw, uint64_t offset, int bit) {
  const std::string path = Normalize(raw);
  MutexLock l(&state_->mu);
  std::shared_ptr<Inode> inode = state_->Find(path);
  if (inode == nullptr) return Status::NotFound("flip bit: " + path);
  if (offset >= inode->data.size() || bit < 0 || bit > 7) {
    return Status::InvalidArgument("flip bit: offset or bit out of range in " + path);
  }
  const char mask = static_cast<char>(1 << bit);
  inode->data[offset] ^= mask;
  if (offset < inode->synced.size()) inode->synced[offset] ^= mask;
  return Status::OK();
}

void MemoryFileSystem::Crash() {
  MutexLock l(&state_->mu);
  ++state_->epoch;
  // Shared, not raw: inodes dropped from the tables here may be freed by the assignment below,
  // and may still be held by stale handles; reset them all.
  std::set<std::shared_ptr<Inode>> reset;
  for (auto& [path, dir] : state_->dirs) {
    for (auto& [name, inode] : dir.current) reset.insert(inode);
    dir.current = dir.durable;
    for (auto& [name, inode] : dir.current) reset.insert(inode);
  }
  for (const std::shared_ptr<Inode>& inode : reset) {
    inode->data = inode->synced;
    inode->unsynced_bytes = 0;
  }
}

Result<std::string> MemoryFileSystem::Contents(const std::string& path) {
  MutexLock l(&state_->mu);
  std::shared_ptr<Inode> inode = state_->Find(Normalize(path));
  if (inode == nullptr) return Status::NotFound("contents: " + path);
  return inode->data;
}

Status MemoryFileSystem::SetContents(const std::string& raw, std::string bytes) {
  const std::string path = Normalize(raw);
  SLUICE_TRY(CreateDirs(Parent(path)));
  MutexLock l(&state_->mu);
  Directory& dir = state_->dirs[Parent(path)];
  std::shared_ptr<Inode>& slot = dir.current[Base(path)];
  if (slot == nullptr) slot = std::make_shared<Inode>();
  slot->data = std::move(bytes);
  slot->synced = slot->data;
  slot->unsynced_bytes = 0;
  dir.durable[Base(path)] = slot;
  return Status::OK();
}

uint64_t MemoryFileSystem::UnsyncedBytes() {
  MutexLock l(&state_->mu);
  uint64_t total = 0;
  for (const Inode* inode : state_->LiveInodes()) total += inode->unsynced_bytes;
  return total;
}

uint64_t MemoryFileSystem::sync_count() {
  MutexLock l(&state_->mu);
  return state_->sync_count;
}

}  // namespace sluice::log::io
