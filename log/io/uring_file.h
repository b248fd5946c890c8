// SPDX-License-Identifier: Apache-2.0
// UringFileSystem / UringFile: the File seam with data I/O (read, write, fdatasync,
// fallocate) on the calling thread's io_uring ring (log/io/uring.h). Opening, closing, sizes
// and directories use the POSIX calls of PosixFileSystem.
#pragma once

#include <memory>
#include <string>

#include "log/io/file.h"
#include "log/io/posix_file.h"

namespace sluice::log::io {

// Each call submits on the calling thread's ring and waits for its completions, so a
// UringFile may be used from any thread (writes serialized by the caller, as File says).
// Registered files and buffers are not used: fio in the log's write pattern showed no gain
// (bench/RESULTS.md, "Registered buffers and files").
class UringFile final : public File {
 public:
  explicit UringFile(std::unique_ptr<PosixFile> file);

  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override;
  // One submission: WRITE linked to FSYNC(DATASYNC). A short write cancels the fsync; the
  // rest is then written and synced separately.
  Status WriteAtAndSync(uint64_t offset, std::span<const std::byte> data) override;
  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> out) const override;
  Status Sync() override;
  Status Truncate(uint64_t size) override { return file_->Truncate(size); }
  Status Allocate(uint64_t offset, uint64_t len) override;
  Result<uint64_t> Size() const override { return file_->Size(); }
  size_t Alignment() const override { return file_->Alignment(); }
  const std::string& path() const override { return file_->path(); }

 private:
  // Owns the descriptor; used for the calls io_uring does not carry.
  const std::unique_ptr<PosixFile> file_;
};

// Thread-safe.
class UringFileSystem final : public FileSystem {
 public:
  // Unavailable (with the probe's message) when io_uring cannot be used here.
  static Result<std::unique_ptr<UringFileSystem>> Create();

  Result<std::unique_ptr<File>> Open(const std::string& path, OpenOptions opts) override;
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    return posix_.ListDir(dir);
  }
  Status CreateDirs(const std::string& dir) override { return posix_.CreateDirs(dir); }
  Status Remove(const std::string& path) override { return posix_.Remove(path); }
  Status Rename(const std::string& from, const std::string& to) override {
    return posix_.Rename(from, to);
  }
  Status SyncDir(const std::string& dir) override { return posix_.SyncDir(dir); }
  bool Exists(const std::string& path) override { return posix_.Exists(path); }
  const char* name() const override { return "io_uring"; }

 private:
  UringFileSystem() = default;
  PosixFileSystem posix_;
};

}  // namespace sluice::log::io
