// SPDX-License-Identifier: Apache-2.0
#include "log/io/posix_file.h"

#include <algorithm>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sluice::log::io {
namespace {

// Linux transfers at most 0x7ffff000 bytes per call; larger requests just come back short.
constexpr size_t kMaxChunk = size_t{1} << 30;
constexpr size_t kDirectAlignment = 4096;

Status Errno(const char* op, const std::string& path) {
  return Status::FromErrno(errno, std::string(op) + " " + path);
}

}  // namespace

PosixFile::PosixFile(int fd, std::string path, size_t alignment)
    : fd_(fd), path_(std::move(path)), alignment_(alignment) {}

PosixFile::~PosixFile() { ::close(fd_); }

Status PosixFile::WriteAt(uint64_t offset, std::span<const std::byte> data) {
  while (!data.empty()) {
    const size_t n = std::min(data.size(), kMaxChunk);
    const ssize_t r = ::pwrite(fd_, data.data(), n, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Errno("pwrite", path_);
    }
    if (r == 0) return Status::IOError("pwrite " + path_ + ": wrote 0 bytes");
    offset += static_cast<uint64_t>(r);
    data = data.subspan(static_cast<size_t>(r));
  }
  return Status::OK();
}

Status PosixFile::WriteAtAndSync(uint64_t offset, std::span<const std::byte> data) {
  SLUICE_TRY(WriteAt(offset, data));
  return Sync();
}

Result<size_t> PosixFile::ReadAt(uint64_t offset, std::span<std::byte> out) const {
  size_t done = 0;
  while (done < out.size()) {
    const size_t n = std::min(out.size() - done, kMaxChunk);
    const ssize_t r = ::pread(fd_, out.data() + done, n, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Errno("pread", path_);
    }
    if (r == 0) break;  // End of file.
    done += static_cast<size_t>(r);
  }
  return done;
}

Status PosixFile::Sync() {
  while (::fdatasync(fd_) != 0) {
    if (errno != EINTR) return Errno("fdatasync", path_);
  }
  return Status::OK();
}

Status PosixFile::Truncate(uint64_t size) {
  while (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    if (errno != EINTR) return Errno("ftruncate", path_);
  }
  return Status::OK();
}

Status PosixFile::Allocate(uint64_t offset, uint64_t len) {
  if (len == 0) return Status::OK();
  for (;;) {
    if (::fallocate(fd_, 0, static_cast<off_t>(offset), static_cast<off_t>(len)) == 0) {
      return Status::OK();
    }
    if (errno == EINTR) continue;
    if (errno != EOPNOTSUPP) return Errno("fallocate", path_);
    break;
  }
  // No block reservation on this file system: at least extend the size as fallocate would.
  SLUICE_ASSIGN_OR_RETURN(const uint64_t size, Size());
  if (offset + len <= size) return Status::OK();
  return Truncate(offset + len);
}

Result<uint64_t> PosixFile::Size() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return Errno("fstat", path_);
  return static_cast<uint64_t>(st.st_size);
}

Result<std::unique_ptr<PosixFile>> PosixFileSystem::OpenPosix(const std::string& path,
                                                              OpenOptions opts) {
  int flags = O_CLOEXEC | (opts.read_only ? O_RDONLY : O_RDWR);
  if (opts.create) flags |= O_CREAT;
  int fd = -1;
  size_t alignment = 1;
  if (opts.direct) {
    fd = ::open(path.c_str(), flags | O_DIRECT, 0644);
    if (fd >= 0) {
      alignment = kDirectAlignment;
    } else if (errno != EINVAL) {
      return Errno("open", path);
    }
    // EINVAL: the file system refuses O_DIRECT (tmpfs); open buffered below.
  }
  if (fd < 0) {
    fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return Errno("open", path);
  }
  return std::make_unique<PosixFile>(fd, path, alignment);
}

Result<std::unique_ptr<File>> PosixFileSystem::Open(const std::string& path, OpenOptions opts) {
  SLUICE_ASSIGN_OR_RETURN(auto file, OpenPosix(path, opts));
  return std::unique_ptr<File>(std::move(file));
}

Result<std::vector<std::string>> PosixFileSystem::ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Errno("opendir", dir);
  std::vector<std::string> names;
  errno = 0;
  while (const struct dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return Status::FromErrno(err, "readdir " + dir);
  return names;
}

Status PosixFileSystem::CreateDirs(const std::string& dir) {
  // mkdir -p: create every prefix ending before a '/', then `dir` itself.
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos < dir.size() && dir[pos] != '/') continue;
    const std::string prefix = dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return Errno("mkdir", prefix);
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Errno("stat", dir);
  if (!S_ISDIR(st.st_mode)) return Status::IOError("mkdir " + dir + ": not a directory");
  return Status::OK();
}

Status PosixFileSystem::Remove(const std::string& path) {
  if (::unlink(path.c_str()) == 0) return Status::OK();
  if (errno == EISDIR && ::rmdir(path.c_str()) == 0) return Status::OK();
  return Errno("remove", path);
}

Status PosixFileSystem::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return Errno("rename", from + " -> " + to);
  return Status::OK();
}

Status PosixFileSystem::SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open", dir);
  int rc;
  while ((rc = ::fsync(fd)) != 0 && errno == EINTR) {
  }
  const Status s = rc == 0 ? Status::OK() : Errno("fsync", dir);
  ::close(fd);
  return s;
}

bool PosixFileSystem::Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

}  // namespace sluice::log::io
