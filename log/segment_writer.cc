// SPDX-License-Identifier: Apache-2.0
#include "log/segment_writer.h"

#include <algorithm>
#include <cstring>

#include "log/format.h"
#include "log/segment_header.h"

namespace sluice::log {

using io::AlignedBuffer;

SegmentWriter::SegmentWriter(std::unique_ptr<io::File> file, uint64_t end)
    : file_(std::move(file)), end_(end), align_(file_->Alignment()) {
  if (align_ > 1) staging_ = AlignedBuffer(align_, 1 << 20);
}

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::Create(io::FileSystem* fs,
                                                             const std::string& path,
                                                             SegmentId base, TimestampMs created_ms,
                                                             const SegmentWriterOptions& opts) {
  if (fs->Exists(path)) return Status::InvalidArgument("segment already exists: " + path);
  SLUICE_ASSIGN_OR_RETURN(auto file,
                          fs->Open(path, io::OpenOptions{.create = true, .direct = opts.direct}));
  if (opts.preallocate_bytes > format::kSegmentHeaderSize) {
    Status s = file->Allocate(0, opts.preallocate_bytes);
    // Preallocation is an optimisation; a file system without it still works, but running
    // out of space must be reported.
    if (s.IsNoSpace()) return s.WithContext(path);
  }
  AlignedBuffer header(std::max<size_t>(file->Alignment(), 1), format::kSegmentHeaderSize);
  EncodeSegmentHeader(SegmentHeader{base, created_ms},
                      std::span<std::byte, format::kSegmentHeaderSize>(header.data(),
                                                                       format::kSegmentHeaderSize));
  SLUICE_TRY(file->WriteAtAndSync(0, {header.data(), format::kSegmentHeaderSize}));
  std::string dir = path.substr(0, path.rfind('/'));
  SLUICE_TRY(fs->SyncDir(dir));
  return std::unique_ptr<SegmentWriter>(
      new SegmentWriter(std::move(file), format::kSegmentHeaderSize));
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
  // Truncating then re-extending zeroes cheaply and keeps preallocation semantics simple.
  SLUICE_TRY(file_->Truncate(end));
  SLUICE_TRY(file_->Allocate(end, size - end).ok() ? Status::OK() : file_->Truncate(size));
  return file_->Sync();
}

Status SegmentWriter::Append(std::span<const std::byte> data, bool sync) {
  if (data.empty()) return sync ? Sync() : Status::OK();
  if (align_ <= 1) {
    Status s = sync ? file_->WriteAtAndSync(end_, data) : file_->WriteAt(end_, data);
    if (s.ok()) end_ += data.size();
    return s;
  }
  // O_DIRECT: write [page_start, RoundUp(end + n)) from staging, which begins with the bytes of
  // the current partial page. Invariant: staging_ bytes past the data are zero.
  uint64_t page_start = AlignedBuffer::RoundDown(end_, align_);
  size_t tail = static_cast<size_t>(end_ - page_start);
  size_t total = tail + data.size();
  size_t padded = AlignedBuffer::RoundUp(total, align_);
  if (padded > staging_.capacity()) {
    AlignedBuffer bigger(align_, std::max(padded, staging_.capacity() * 2));
    std::memcpy(bigger.data(), staging_.data(), tail);
    staging_ = std::move(bigger);
  }
  std::memcpy(staging_.data() + tail, data.data(), data.size());
  std::memset(staging_.data() + total, 0, padded - total);
  std::span<const std::byte> out(staging_.data(), padded);
  Status s = sync ? file_->WriteAtAndSync(page_start, out) : file_->WriteAt(page_start, out);
  if (!s.ok()) {
    std::memset(staging_.data() + tail, 0, padded - tail);  // Restore the invariant.
    return s;
  }
  end_ += data.size();
  // Keep only the new partial page at the front of staging.
  size_t keep_from = AlignedBuffer::RoundDown(total, align_);
  size_t keep = total - keep_from;
  if (keep_from > 0) {
    std::memmove(staging_.data(), staging_.data() + keep_from, keep);
    std::memset(staging_.data() + keep, 0, padded - keep);
  }
  return Status::OK();
}

Status SegmentWriter::Sync() { return file_->Sync(); }

Status SegmentWriter::TruncateTo(uint64_t end) {
  if (end > end_) return Status::InvalidArgument("truncate past the data end");
  end_ = end;
  SLUICE_TRY(ZeroFrom(end));
  if (align_ > 1) {
    std::memset(staging_.data(), 0, staging_.capacity());
    SLUICE_TRY(LoadTail());
  }
  return Status::OK();
}

Status SegmentWriter::Seal() {
  SLUICE_TRY(file_->Truncate(end_));
  return file_->Sync();
}

}  // namespace sluice::log
