// SPDX-License-Identifier: Apache-2.0
#include "log/segment.h"

#include "log/filename.h"
#include "log/record_batch.h"
#include "log/recovery.h"

namespace sluice::log {

Segment::Segment(io::FileSystem* fs, const std::string& dir, SegmentId base)
    : fs_(fs),
      base_(base),
      path_(SegmentFileName(dir, base)),
      index_path_(IndexFileName(dir, base)) {}

std::optional<Segment::Summary> Segment::summary() const {
  MutexLock l(&mu_);
  return summary_;
}

void Segment::set_summary(const Summary& s) {
  MutexLock l(&mu_);
  summary_ = s;
}

Result<Index> ReadIndexFile(io::FileSystem* fs, const std::string& path, SegmentId base,
                            bool* clean) {
  SLUICE_ASSIGN_OR_RETURN(auto file, fs->Open(path, io::OpenOptions{.read_only = true}));
  SLUICE_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  std::string bytes(size, '\0');
  auto out = std::span<std::byte>(reinterpret_cast<std::byte*>(bytes.data()), bytes.size());
  SLUICE_ASSIGN_OR_RETURN(size_t n, file->ReadAt(0, out));
  return Index::Decode(out.first(n), base, clean);
}

namespace {
// Loads the index file when it is intact and agrees with a segment of `file_size` bytes.
Result<Index> LoadIndexFile(io::FileSystem* fs, const std::string& path, SegmentId base,
                            uint64_t file_size) {
  bool clean = false;
  SLUICE_ASSIGN_OR_RETURN(Index index, ReadIndexFile(fs, path, base, &clean));
  // A sealed segment is trimmed to its data; a cleanly closed active one may be longer
  // (preallocated), in which case the index must say it was clean.
  if (index.data_end() > file_size || (index.data_end() != file_size && !clean)) {
    return Status::Corruption("index does not match the segment's size");
  }
  return index;
}
}  // namespace

Result<OpenedSegment> Segment::Open(std::string* note) {
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<io::File> file,
                          fs_->Open(path_, io::OpenOptions{.read_only = true}));
  SLUICE_ASSIGN_OR_RETURN(uint64_t file_size, file->Size());
  auto loaded = LoadIndexFile(fs_, index_path_, base_, file_size);
  Status damage;
  std::shared_ptr<const Index> index;
  if (loaded.ok()) {
    index = std::make_shared<const Index>(std::move(loaded).value());
  } else {
    SLUICE_ASSIGN_OR_RETURN(SegmentScan scan, ScanSegment(*file, base_, path_));
    *note = "rebuilt index " + index_path_ + " (" + loaded.status().ToString() + ")";
    for (const DamagedRange& d : scan.damaged) {
      *note += "; corrupt region of " + std::to_string(d.bytes) + " bytes at " + path_ + ":" +
               std::to_string(d.position) + " holding records [" + std::to_string(d.first.value()) +
               ", " + std::to_string(d.end.value()) + ")";
    }
    if (!scan.stop.ok()) {
      damage = Status::Corruption(path_ + ": data damaged at position " +
                                  std::to_string(scan.valid_end) + ": " + scan.stop.ToString());
    } else if (scan.damaged.empty()) {
      // Only a fully valid segment gets its index rewritten; damage stays visible.
      (void)WriteIndexFile(fs_, index_path_, scan.index, /*clean=*/false);
    }
    index = std::make_shared<const Index>(std::move(scan.index));
  }
  set_summary({index->data_end(), index->next_offset(), index->max_timestamp()});
  OpenedSegment opened{std::shared_ptr<io::File>(std::move(file)), std::move(index)};
  if (!damage.ok()) {
    if (!note->empty()) *note += "; ";
    *note += damage.ToString();
  }
  return opened;
}

Result<OpenedSegment> SegmentCache::Get(const std::shared_ptr<Segment>& seg, std::string* note) {
  {
    MutexLock l(&mu_);
    auto it = map_.find(seg->base());
    if (it != map_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
  }
  // Open outside the lock; a concurrent opener may race us, and the last insert wins.
  SLUICE_ASSIGN_OR_RETURN(OpenedSegment opened, seg->Open(note));
  MutexLock l(&mu_);
  InsertLocked(seg->base(), opened);
  return opened;
}

void SegmentCache::Put(SegmentId base, OpenedSegment opened) {
  MutexLock l(&mu_);
  InsertLocked(base, std::move(opened));
}

void SegmentCache::InsertLocked(SegmentId base, OpenedSegment opened) {
  auto it = map_.find(base);
  if (it != map_.end()) {
    lru_.erase(it->second);
    map_.erase(it);
  }
  lru_.emplace_front(base, std::move(opened));
  map_[base] = lru_.begin();
  while (lru_.size() > capacity_) {
    map_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

void SegmentCache::Erase(SegmentId base) {
  MutexLock l(&mu_);
  auto it = map_.find(base);
  if (it == map_.end()) return;
  lru_.erase(it->second);
  map_.erase(it);
}

size_t SegmentCache::size() const {
  MutexLock l(&mu_);
  return lru_.size();
}

Status WriteIndexFile(io::FileSystem* fs, const std::string& path, const Index& index, bool clean) {
  std::string tmp = TempFileName(path);
  std::string bytes = index.Encode(clean);
  {
    if (fs->Exists(tmp)) SLUICE_TRY(fs->Remove(tmp));
    SLUICE_ASSIGN_OR_RETURN(auto file, fs->Open(tmp, io::OpenOptions{.create = true}));
    SLUICE_TRY(file->Truncate(0));
    SLUICE_TRY(file->WriteAt(0, AsBytes(bytes)));
  }
  return fs->Rename(tmp, path);
}

}  // namespace sluice::log
