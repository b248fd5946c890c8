// SPDX-License-Identifier: Apache-2.0
// The I/O seam. Everything in the log reaches files only through File and FileSystem, so the
// same code runs on io_uring, on POSIX system calls, and in memory with injected faults.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "log/base/result.h"
#include "log/base/status.h"

namespace sluice::log::io {

struct OpenOptions {
  bool create = false;     // Create when missing (never truncates an existing file).
  bool read_only = false;  // Open for reading only.
  // Ask for O_DIRECT. Where the file system refuses it (tmpfs, memory backend) the file opens
  // buffered and reports Alignment() == 1; callers must check Alignment(), not this flag.
  bool direct = false;
};

// An open file. Positional I/O only: the caller owns positions (reserve at submit).
// Not thread-safe for writes; ReadAt may be called from several threads at once.
class File {
 public:
  virtual ~File() = default;
  File() = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Writes all of `data` at `offset` (a short write is retried internally). With
  // Alignment() > 1, offset, size and buffer address must all be multiples of it.
  virtual Status WriteAt(uint64_t offset, std::span<const std::byte> data) = 0;
  // Writes `data` at `offset`, then fdatasyncs; on io_uring as one linked submission.
  virtual Status WriteAtAndSync(uint64_t offset, std::span<const std::byte> data) = 0;
  // Reads up to out.size() bytes at `offset`; returns the count, short only at end of file.
  virtual Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> out) const = 0;
  // fdatasync: makes written data durable (and the size, if it changed).
  virtual Status Sync() = 0;
  // Sets the file size (shrink or extend with zeros).
  virtual Status Truncate(uint64_t size) = 0;
  // Reserves blocks for [offset, offset + len) and extends the size to cover it, so that later
  // writes inside it need no size update on fdatasync.
  virtual Status Allocate(uint64_t offset, uint64_t len) = 0;
  virtual Result<uint64_t> Size() const = 0;
  // Required alignment of offsets, sizes and buffers for WriteAt/ReadAt: 1 when buffered.
  virtual size_t Alignment() const = 0;
  // The path it was opened with (for messages).
  virtual const std::string& path() const = 0;
};

// Files and directories. Implementations are thread-safe.
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual Result<std::unique_ptr<File>> Open(const std::string& path, OpenOptions opts) = 0;
  // Names (not paths) of the entries of `dir`, without "." and "..", in no particular order.
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // Creates `dir` and missing parents; OK when it exists.
  virtual Status CreateDirs(const std::string& dir) = 0;
  virtual Status Remove(const std::string& path) = 0;
  // Atomically replaces `to` with `from` (rename(2)).
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // fsyncs the directory so that creations, renames and removals in it are durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // A short name for logs and test names: "io_uring", "posix", "memory".
  virtual const char* name() const = 0;
};

enum class Backend { kAuto, kUring, kPosix, kMemory };

// kAuto: io_uring when the kernel offers every opcode Sluice needs, else POSIX with one log line
// on stderr naming the reason. kUring fails with Unavailable (one clear message) when it cannot
// be used. kMemory returns a fresh, empty MemoryFileSystem.
Result<std::unique_ptr<FileSystem>> MakeFileSystem(Backend backend);

}  // namespace sluice::log::io
