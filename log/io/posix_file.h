// SPDX-License-Identifier: Apache-2.0
// PosixFileSystem / PosixFile: the File seam on plain system calls (pread, pwrite, fdatasync).
// Also the directory half of UringFileSystem, which reuses it for everything but data I/O.
#pragma once

#include <string>

#include "log/io/file.h"

namespace sluice::log::io {

// An open file descriptor (closed on destruction). Thread-compatible as File says: writes are
// serialized by the caller, ReadAt may run concurrently.
class PosixFile final : public File {
 public:
  // Takes ownership of `fd`. `alignment` is 4096 when opened with O_DIRECT, else 1.
  PosixFile(int fd, std::string path, size_t alignment);
  ~PosixFile() override;

  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override;
  Status WriteAtAndSync(uint64_t offset, std::span<const std::byte> data) override;
  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> out) const override;
  Status Sync() override;
  Status Truncate(uint64_t size) override;
  // fallocate(mode 0); where the file system lacks it (EOPNOTSUPP), extends with ftruncate.
  Status Allocate(uint64_t offset, uint64_t len) override;
  Result<uint64_t> Size() const override;
  size_t Alignment() const override { return alignment_; }
  const std::string& path() const override { return path_; }

  // The descriptor, valid while this object lives (for UringFile).
  int fd() const { return fd_; }

 private:
  const int fd_;
  const std::string path_;
  const size_t alignment_;
};

// Holds no state, so it is thread-safe.
class PosixFileSystem final : public FileSystem {
 public:
  // Open() with the concrete type, for UringFileSystem. O_CLOEXEC always; `direct` tries
  // O_DIRECT and opens buffered when the file system refuses it (EINVAL).
  Result<std::unique_ptr<PosixFile>> OpenPosix(const std::string& path, OpenOptions opts);

  Result<std::unique_ptr<File>> Open(const std::string& path, OpenOptions opts) override;
  Result<std::vector<std::string>> ListDir(const std::string& dir) override;
  Status CreateDirs(const std::string& dir) override;
  // Removes a file (or an empty directory).
  Status Remove(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status SyncDir(const std::string& dir) override;
  bool Exists(const std::string& path) override;
  const char* name() const override { return "posix"; }
};

}  // namespace sluice::log::io
