// SPDX-License-Identifier: Apache-2.0
#include "log/io/uring_file.h"

#include <algorithm>
#include <cerrno>

#include "log/io/uring.h"

namespace sluice::log::io {
namespace {

bool Retry(int32_t res) { return res == -EAGAIN || res == -EINTR; }

Status ResError(int32_t res, const char* op, const std::string& path) {
  return Status::FromErrno(-res, std::string(op) + " " + path);
}

// Submits one request and returns its result (bytes or -errno), retrying EAGAIN/EINTR.
Result<int32_t> RunOne(const IoRequest& req) {
  int32_t res;
  do {
    SLUICE_TRY(UringSubmitAndWait({&req, 1}, {&res, 1}));
  } while (Retry(res));
  return res;
}

}  // namespace

UringFile::UringFile(std::unique_ptr<PosixFile> file) : file_(std::move(file)) {}

Status UringFile::WriteAt(uint64_t offset, std::span<const std::byte> data) {
  while (!data.empty()) {
    const uint64_t n = std::min<uint64_t>(data.size(), kUringMaxLength);
    IoRequest req{.op = IoRequest::Op::kWrite,
                  .fd = file_->fd(),
                  .offset = offset,
                  .buffer = const_cast<std::byte*>(data.data()),
                  .length = n};
    SLUICE_ASSIGN_OR_RETURN(const int32_t res, RunOne(req));
    if (res < 0) return ResError(res, "write", path());
    if (res == 0) return Status::IOError("write " + path() + ": wrote 0 bytes");
    offset += static_cast<uint64_t>(res);
    data = data.subspan(static_cast<size_t>(res));
  }
  return Status::OK();
}

Status UringFile::WriteAtAndSync(uint64_t offset, std::span<const std::byte> data) {
  if (data.size() > kUringMaxLength) {
    SLUICE_TRY(WriteAt(offset, data));
    return Sync();
  }
  const IoRequest reqs[2] = {{.op = IoRequest::Op::kWrite,
                              .fd = file_->fd(),
                              .offset = offset,
                              .buffer = const_cast<std::byte*>(data.data()),
                              .length = data.size(),
                              .link = true},
                             {.op = IoRequest::Op::kFsyncData, .fd = file_->fd()}};
  int32_t res[2];
  SLUICE_TRY(UringSubmitAndWait(reqs, res));
  if (res[0] < 0 && !Retry(res[0])) return ResError(res[0], "write", path());
  const size_t written = res[0] < 0 ? 0 : static_cast<size_t>(res[0]);
  if (written == data.size()) {
    if (res[1] >= 0) return Status::OK();
    if (!Retry(res[1])) return ResError(res[1], "fdatasync", path());
  }
  // Short (or retriable) write: the linked fsync was cancelled. Finish in two steps.
  SLUICE_TRY(WriteAt(offset + written, data.subspan(written)));
  return Sync();
}

Result<size_t> UringFile::ReadAt(uint64_t offset, std::span<std::byte> out) const {
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t n = std::min<uint64_t>(out.size() - done, kUringMaxLength);
    const IoRequest req{.op = IoRequest::Op::kRead,
                        .fd = file_->fd(),
                        .offset = offset + done,
                        .buffer = out.data() + done,
                        .length = n};
    SLUICE_ASSIGN_OR_RETURN(const int32_t res, RunOne(req));
    if (res < 0) return ResError(res, "read", path());
    if (res == 0) break;  // End of file.
    done += static_cast<size_t>(res);
  }
  return done;
}

Status UringFile::Sync() {
  SLUICE_ASSIGN_OR_RETURN(const int32_t res,
                          RunOne({.op = IoRequest::Op::kFsyncData, .fd = file_->fd()}));
  if (res < 0) return ResError(res, "fdatasync", path());
  return Status::OK();
}

Status UringFile::Allocate(uint64_t offset, uint64_t len) {
  if (len == 0) return Status::OK();
  SLUICE_ASSIGN_OR_RETURN(
      const int32_t res,
      RunOne(
          {.op = IoRequest::Op::kFallocate, .fd = file_->fd(), .offset = offset, .length = len}));
  // Without fallocate support PosixFile falls back to extending the size.
  if (res == -EOPNOTSUPP) return file_->Allocate(offset, len);
  if (res < 0) return ResError(res, "fallocate", path());
  return Status::OK();
}

Result<std::unique_ptr<UringFileSystem>> UringFileSystem::Create() {
  SLUICE_TRY(UringProbe());
  return std::unique_ptr<UringFileSystem>(new UringFileSystem());
}

Result<std::unique_ptr<File>> UringFileSystem::Open(const std::string& path, OpenOptions opts) {
  SLUICE_ASSIGN_OR_RETURN(auto file, posix_.OpenPosix(path, opts));
  return std::unique_ptr<File>(std::make_unique<UringFile>(std::move(file)));
}

}  // namespace sluice::log::io
