// SPDX-License-Identifier: Apache-2.0
// Segment: one `.log` file and its `.index`. A sealed segment is opened lazily: its file and
// index are loaded on first read and kept in a bounded LRU (SegmentCache), so a log of 100 000
// segments holds few descriptors.
#pragma once

#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "log/base/result.h"
#include "log/base/thread_annotations.h"
#include "log/base/types.h"
#include "log/index.h"
#include "log/io/file.h"

namespace sluice::log {

// What a reader needs of a segment: a read handle and an index. Both shared, so a reader keeps
// them alive across eviction or deletion of the segment.
struct OpenedSegment {
  std::shared_ptr<io::File> file;
  std::shared_ptr<const Index> index;
};

// Immutable identity plus a small, thread-safe summary learned when the segment is opened.
class Segment {
 public:
  Segment(io::FileSystem* fs, const std::string& dir, SegmentId base);
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  SegmentId base() const { return base_; }
  const std::string& path() const { return path_; }
  const std::string& index_path() const { return index_path_; }

  // Opens the file read-only and loads the index from the .index file; when that is missing,
  // damaged or disagrees with the file, rebuilds it by scanning and rewrites it (`*note`
  // says so). Corruption when the scan finds damage in a sealed segment (reads of the valid
  // prefix still work through the returned index).
  Result<OpenedSegment> Open(std::string* note);

  // Summary, known once opened (or set by the log for a just-sealed segment).
  struct Summary {
    uint64_t data_bytes = 0;
    SequenceNumber next;
    TimestampMs max_timestamp = 0;
  };
  std::optional<Summary> summary() const EXCLUDES(mu_);
  void set_summary(const Summary& s) EXCLUDES(mu_);

 private:
  io::FileSystem* const fs_;
  const SegmentId base_;
  const std::string path_;
  const std::string index_path_;
  mutable Mutex mu_;
  std::optional<Summary> summary_ GUARDED_BY(mu_);
};

// LRU of opened sealed segments. Thread-safe.
class SegmentCache {
 public:
  explicit SegmentCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  // The opened segment, opening it on a miss (see Segment::Open; `*note` as there).
  Result<OpenedSegment> Get(const std::shared_ptr<Segment>& seg, std::string* note) EXCLUDES(mu_);
  // Puts an already opened segment (a just-sealed active one) in the cache.
  void Put(SegmentId base, OpenedSegment opened) EXCLUDES(mu_);
  void Erase(SegmentId base) EXCLUDES(mu_);
  size_t size() const EXCLUDES(mu_);

 private:
  void InsertLocked(SegmentId base, OpenedSegment opened) REQUIRES(mu_);

  const size_t capacity_;
  mutable Mutex mu_;
  std::list<std::pair<SegmentId, OpenedSegment>> lru_ GUARDED_BY(mu_);  // Front = newest.
  std::unordered_map<SegmentId, decltype(lru_)::iterator> map_ GUARDED_BY(mu_);
};

// Reads and validates an .index file (Index::Decode); `*clean` as stored. Used by segment
// opening and by tools, so that nothing else parses index files.
Result<Index> ReadIndexFile(io::FileSystem* fs, const std::string& path, SegmentId base,
                            bool* clean);

// Writes `index` to `path` through a temp file and rename (no fsync: the checksum rejects a
// torn index, which is then rebuilt).
Status WriteIndexFile(io::FileSystem* fs, const std::string& path, const Index& index, bool clean);

}  // namespace sluice::log
