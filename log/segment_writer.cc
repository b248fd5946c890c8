// SPDX-License-Identifier: Apache-2.0
#include "log/segment_writer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "log/format.h"
#include "log/segment_header.h"

namespace sluice::log {

using io::AlignedBuffer;

SegmentWriter::SegmentWriter(std::unique_ptr<io::File> file, uint64_t end)
    : file_(std::move(file)), end_(end), align_(file_->Alignment()) {
  staging_ = AlignedBuffer(std::max<size_t>(align_, 1), 1 << 20);
}

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::Create(io::FileSystem* fs,
                                                             const std::string& path,
                                                             SegmentId base, TimestampMs created_ms,
                                                             const SegmentWriterOptions& opts) {
  if (fs->Exists(path)) return Status::InvalidArgument("segment already exists: " + path);
  SLUICE_ASSIGN_OR_RETURN(auto file,
                          fs->Open(path, io::OpenOptions{.create = true, .direct = opts.direct}));
  // From here a failure removes the file, so that a failed roll leaves nothing behind.
  auto fail = [&](Status s) {
    file.reset();
    (void)fs->Remove(path);
    return s.WithContext("create " + path);
  };
  if (opts.preallocate_bytes > format::kSegmentHeaderSize) {
    Status s = file->Allocate(0, opts.preallocate_bytes);
    // Preallocation is an optimisation: a file system without it still works, but running out
    // of space must be reported.
    if (s.IsNoSpace()) return fail(s);
  }
  std::unique_ptr<SegmentWriter> w(new SegmentWriter(std::move(file), format::kSegmentHeaderSize));
  if (Status s = w->WriteHeader(SegmentHeader{base, created_ms}); !s.ok()) {
    w.reset();
    (void)fs->Remove(path);
    return s.WithContext("create " + path);
  }
  std::string dir = path.substr(0, path.rfind('/'));
  if (Status s = fs->SyncDir(dir); !s.ok()) {
    w.reset();
    (void)fs->Remove(path);
    return s.WithContext("create " + path);
  }
  return w;
}

Status SegmentWriter::WriteHeader(const SegmentHeader& header) {
  AlignedBuffer page(std::max<size_t>(align_, 1), format::kSegmentHeaderSize);
  EncodeSegmentHeader(header, std::span<std::byte, format::kSegmentHeaderSize>(
                                  page.data(), format::kSegmentHeaderSize));
  return file_->WriteAtAndSync(0, {page.data(), format::kSegmentHeaderSize});
}

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::OpenForAppend(
    io::FileSystem* fs, const std::string& path, uint64_t end, const SegmentWriterOptions& opts) {
  SLUICE_ASSIGN_OR_RETURN(auto file, fs->Open(path, io::OpenOptions{.direct = opts.direct}));
  std::unique_ptr<SegmentWriter> w(new SegmentWriter(std::move(file), end));
  SLUICE_TRY(w->ZeroFrom(end));
  SLUICE_TRY(w->LoadTail());
  return w;
}

// Reads the partial last page into staging_ (O_DIRECT only).
Status SegmentWriter::LoadTail() {
  if (align_ <= 1) return Status::OK();
  uint64_t page = AlignedBuffer::RoundDown(end_, align_);
  if (page == end_) return Status::OK();
  SLUICE_ASSIGN_OR_RETURN(size_t n, file_->ReadAt(page, {staging_.data(), align_}));
  if (n < end_ - page) return Status::Truncated("segment shorter than its recovered end");
  std::memset(staging_.data() + (end_ - page), 0, align_ - (end_ - page));
  return Status::OK();
}

// Zeroes file bytes from `end` to the file size (a torn batch left there must not survive).
Status SegmentWriter::ZeroFrom(uint64_t end) {
  SLUICE_ASSIGN_OR_RETURN(uint64_t size, file_->Size());
  if (size <= end) return Status::OK();
  // Truncating zeroes cheaply; allocating again keeps the preallocation where space allows
  // (best effort: without it the file just grows with each write).
  SLUICE_TRY(file_->Truncate(end));
  (void)file_->Allocate(end, size - end);
  return file_->Sync();
}

std::span<std::byte> SegmentWriter::Reserve(size_t n) {
  // Direct: staging_[0, tail) holds the partial last page; the reservation follows it.
  size_t tail = align_ > 1 ? static_cast<size_t>(end_ % align_) : 0;
  size_t need = AlignedBuffer::RoundUp(tail + n, align_);
  if (need > staging_.capacity()) {
    AlignedBuffer bigger(align_, std::max(need, staging_.capacity() * 2));
    std::memcpy(bigger.data(), staging_.data(), tail);
    staging_ = std::move(bigger);
  }
  reserved_ = n;
  return {staging_.data() + tail, n};
}

Status SegmentWriter::Commit(bool sync) {
  size_t n = std::exchange(reserved_, 0);
  if (n == 0) return sync ? Sync() : Status::OK();
  if (align_ <= 1) {
    std::span<const std::byte> out(staging_.data(), n);
    Status s = sync ? file_->WriteAtAndSync(end_, out) : file_->WriteAt(end_, out);
    if (s.ok()) end_ += n;
    return s.ok() ? s : DiscardFailedWrite(s);
  }
  // O_DIRECT: write [page_start, RoundUp(end + n)) from staging, zero-padded after the data.
  uint64_t page_start = AlignedBuffer::RoundDown(end_, align_);
  size_t total = static_cast<size_t>(end_ - page_start) + n;
  size_t padded = AlignedBuffer::RoundUp(total, align_);
  std::memset(staging_.data() + total, 0, padded - total);
  std::span<const std::byte> out(staging_.data(), padded);
  Status s = sync ? file_->WriteAtAndSync(page_start, out) : file_->WriteAt(page_start, out);
  // staging_[0, tail) is untouched by a failure: the next Reserve starts over.
  if (!s.ok()) return DiscardFailedWrite(s);
  end_ += n;
  // Keep only the new partial page at the front of staging.
  size_t keep_from = AlignedBuffer::RoundDown(total, align_);
  if (keep_from > 0) std::memmove(staging_.data(), staging_.data() + keep_from, total - keep_from);
  return Status::OK();
}

// A failed write may have stored part of its bytes after the data end. They must not stay:
// whole batches among them were never acknowledged, and recovery would take them for data.
Status SegmentWriter::DiscardFailedWrite(const Status& failure) {
  Status s = ZeroFrom(end_);
  if (!s.ok()) {
    return Status::IOError(failure.ToString() +
                           "; and the partial write could not be undone: " + s.ToString());
  }
  return failure;
}

Status SegmentWriter::Append(std::span<const std::byte> data, bool sync) {
  std::span<std::byte> dst = Reserve(data.size());
  std::memcpy(dst.data(), data.data(), data.size());
  return Commit(sync);
}

Status SegmentWriter::Sync() { return file_->Sync(); }

Status SegmentWriter::TruncateTo(uint64_t end) {
  if (end > end_) return Status::InvalidArgument("truncate past the data end");
  end_ = end;
  SLUICE_TRY(ZeroFrom(end));
  return LoadTail();
}

Status SegmentWriter::Seal() {
  SLUICE_TRY(file_->Truncate(end_));
  return file_->Sync();
}

}  // namespace sluice::log
