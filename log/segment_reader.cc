// SPDX-License-Identifier: Apache-2.0
#include "log/segment_reader.h"

#include <algorithm>
#include <cstring>

namespace sluice::log {

SegmentReader::SegmentReader(const io::File* file, uint64_t start, uint64_t end, size_t read_ahead)
    : file_(file), pos_(start), end_(end), read_ahead_(read_ahead), buf_start_(start) {}

// Ensures at least `need` unread bytes are buffered, or as many as remain before end_.
Status SegmentReader::Fill(size_t need) {
  size_t have = buf_.size() - consumed_;
  if (have >= need) return Status::OK();
  size_t want = std::max(need, read_ahead_);
  uint64_t remaining = end_ - pos_;
  want = static_cast<size_t>(std::min<uint64_t>(want, remaining));
  if (want <= have) return Status::OK();
  // Keep the unread tail, then read more after it.
  std::memmove(buf_.data(), buf_.data() + consumed_, have);
  buf_.resize(want);
  buf_start_ = pos_;
  consumed_ = 0;
  size_t filled = have;
  while (filled < want) {
    auto out =
        std::span<std::byte>(reinterpret_cast<std::byte*>(buf_.data()) + filled, want - filled);
    SLUICE_ASSIGN_OR_RETURN(size_t n, file_->ReadAt(pos_ + filled, out));
    if (n == 0) break;  // End of file before end_.
    filled += n;
  }
  buf_.resize(filled);
  return Status::OK();
}

Result<std::optional<RecordBatchView>> SegmentReader::Next() {
  if (pos_ >= end_) return std::optional<RecordBatchView>();
  SLUICE_TRY(Fill(format::kBatchHeaderSize));
  auto avail = [this] {
    return std::span<const std::byte>(reinterpret_cast<const std::byte*>(buf_.data()) + consumed_,
                                      buf_.size() - consumed_);
  };
  auto header = PeekBatchHeader(avail());
  if (!header.ok()) {
    if (header.status().IsNotFound()) return std::optional<RecordBatchView>();  // Zero fill.
    auto rest = avail();
    if (rest.size() < format::kBatchHeaderSize && pos_ + rest.size() == end_ &&
        std::all_of(rest.begin(), rest.end(), [](std::byte b) { return b == std::byte{0}; })) {
      return std::optional<RecordBatchView>();  // A few zero bytes at the very end.
    }
    if (!header.status().IsTruncated()) return header.status();
    // Truncated: either only the header is short, or the batch is longer than buffered.
  }
  if (header.ok() || avail().size() >= format::kBatchLengthOffset + 4) {
    uint32_t length = 0;
    std::memcpy(&length, avail().data() + format::kBatchLengthOffset, 4);
    if (length > end_ - pos_) {
      return Status::Truncated("batch at position " + std::to_string(pos_) + " of length " +
                               std::to_string(length) + " runs past the data end " +
                               std::to_string(end_));
    }
    SLUICE_TRY(Fill(length));
  }
  auto view = RecordBatchView::Parse(avail());
  if (!view.ok()) {
    return view.status().WithContext("batch at position " + std::to_string(pos_));
  }
  consumed_ += view->header().length;
  pos_ += view->header().length;
  return std::optional<RecordBatchView>(*view);
}

}  // namespace sluice::log
