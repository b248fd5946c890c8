// SPDX-License-Identifier: Apache-2.0
// MemoryFileSystem: files in memory, with fault injection for tests (failed and short writes,
// ENOSPC, bit flips, and a simulated crash that drops everything not yet synced).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "log/base/thread_annotations.h"
#include "log/io/file.h"

namespace sluice::log::io {

// Crash model (like leveldb's fault_injection_test): each file is an inode with current bytes
// and the bytes it had at its last Sync (or WriteAtAndSync). Each directory has a current
// name→inode table and the table it had at its last SyncDir. Crash() makes every durable
// state the current one: unsynced bytes vanish, and creations, renames and removals not
// followed by SyncDir of their directory are undone. A file created and synced but whose
// directory was never synced vanishes too — as on a real crash.
//
// Thread-safe. Files stay valid after Crash() but behave as if their descriptors were stale:
// further operations fail with IOError until reopened.
class MemoryFileSystem final : public FileSystem {
 public:
  MemoryFileSystem();
  ~MemoryFileSystem() override;

  Result<std::unique_ptr<File>> Open(const std::string& path, OpenOptions opts) override;
  Result<std::vector<std::string>> ListDir(const std::string& dir) override;
  Status CreateDirs(const std::string& dir) override;
  Status Remove(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status SyncDir(const std::string& dir) override;
  bool Exists(const std::string& path) override;
  const char* name() const override { return "memory"; }

  // --- Fault injection ---------------------------------------------------------------------
  // The next `n` write-side operations (WriteAt, WriteAtAndSync, Sync, Truncate, Allocate)
  // fail with `status` and change nothing.
  void FailNextWrites(int n, Status status);
  // The next write stores only its first `keep` bytes, then fails with IOError.
  void ShortWriteNext(size_t keep);
  // Total bytes across all files may not exceed `bytes`; a write or Allocate that would
  // cross it stores what fits (a write) or nothing (Allocate) and fails with NoSpace.
  // UINT64_MAX (the default) means unlimited.
  void SetCapacity(uint64_t bytes);
  // The next `n` reads of `path` fail with IOError ("EIO").
  void FailNextReads(const std::string& path, int n);
  // Flips bit `bit` (0..7) of byte `offset` of `path`, in both current and synced contents.
  Status FlipBit(const std::string& path, uint64_t offset, int bit);
  // Simulated power loss (see the class comment).
  void Crash();

  // --- Inspection --------------------------------------------------------------------------
  // Current contents of `path`; NotFound when absent.
  Result<std::string> Contents(const std::string& path);
  // Replaces the current and synced contents of `path` (creating it, durably).
  Status SetContents(const std::string& path, std::string bytes);
  // Bytes written since the last Sync of that file summed over all files (for tests of
  // durability policies).
  uint64_t UnsyncedBytes();
  // Number of Sync/WriteAtAndSync calls that reached a file.
  uint64_t sync_count();

 private:
  struct State;
  friend class MemoryFile;
  std::shared_ptr<State> state_;
};

}  // namespace sluice::log::io
