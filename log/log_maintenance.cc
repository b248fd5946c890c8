// SPDX-License-Identifier: Apache-2.0
// Log: truncation after an offset (replication) and retention (deleting whole sealed segments).
#include <algorithm>

#include "log/filename.h"
#include "log/log.h"
#include "log/segment_reader.h"

namespace sluice::log {

Status Log::TruncateAfter(SequenceNumber last_kept) {
  MutexLock m(&maintenance_mu_);
  SequenceNumber new_next(last_kept.value() + 1);
  return RunExclusive([&]() NO_THREAD_SAFETY_ANALYSIS { return TruncateLocked(new_next); });
}

Status Log::TruncateLocked(SequenceNumber new_next) {
  if (closed_) return Status::Aborted("log is closed");
  if (!sticky_error_.ok()) return sticky_error_;
  if (new_next == next_) {  // Nothing to remove; still durable on return.
    if (durable_ < written_) {
      SLUICE_TRY(writer_->Sync());
      durable_ = written_;
      stats_.syncs++;
    }
    return Status::OK();
  }
  SequenceNumber start(segments_.front()->base().value());
  if (new_next > next_ || new_next < start) {
    return Status::InvalidArgument("cannot truncate after " + std::to_string(new_next.value() - 1) +
                                   ": the log holds [" + std::to_string(start.value()) + ", " +
                                   std::to_string(next_.value()) + ")");
  }
  // The segment that will hold the new end: the last one whose base <= new_next.
  auto it = std::upper_bound(segments_.begin(), segments_.end(), new_next.value(),
                             [](uint64_t v, const auto& s) { return v < s->base().value(); });
  std::shared_ptr<Segment> keep = *std::prev(it);
  bool keep_is_active = keep == segments_.back();
  // Find the file position where the batch starting at new_next begins.
  uint64_t cut = format::kSegmentHeaderSize;
  if (keep->base().value() != new_next.value()) {
    std::shared_ptr<io::File> file;
    uint64_t from, end;
    if (keep_is_active) {
      file = active_reader_;
      from = active_index_->LookupOffset(new_next);
      end = active_index_->data_end();
    } else {
      std::string note;
      SLUICE_ASSIGN_OR_RETURN(OpenedSegment opened, cache_.Get(keep, &note));
      file = opened.file;
      from = opened.index->LookupOffset(new_next);
      end = opened.index->data_end();
    }
    SegmentReader reader(file.get(), from, end);
    for (cut = 0;;) {
      uint64_t pos = reader.position();
      SLUICE_ASSIGN_OR_RETURN(auto batch, reader.Next());
      if (!batch) return Status::Corruption("truncation point not found in " + keep->path());
      const BatchHeader& h = batch->header();
      if (h.base_offset == new_next) {
        cut = pos;
        break;
      }
      if (h.base_offset < new_next && new_next < h.next_offset()) {
        return Status::InvalidArgument(
            "cannot truncate after " + std::to_string(new_next.value() - 1) +
            ": it is inside the batch [" + std::to_string(h.base_offset.value()) + ", " +
            std::to_string(h.next_offset().value()) + ")");
      }
      if (h.next_offset() == new_next) {
        cut = reader.position();
        break;
      }
    }
  }
  // Drop every later segment, newest first so that a crash midway leaves a prefix.
  while (segments_.back() != keep) {
    std::shared_ptr<Segment> seg = segments_.back();
    writer_.reset();  // Only the first one popped can be the active segment.
    segments_.pop_back();
    SLUICE_TRY(DeleteSegmentFiles(seg));
  }
  if (keep_is_active && writer_) {
    SLUICE_TRY(writer_->TruncateTo(cut));
  } else {
    writer_.reset();
    cache_.Erase(keep->base());
    if (fs_->Exists(keep->index_path())) SLUICE_TRY(fs_->Remove(keep->index_path()));
    SLUICE_ASSIGN_OR_RETURN(writer_,
                            SegmentWriter::OpenForAppend(fs_, keep->path(), cut,
                                                         SegmentWriterOptions{opts_.direct_io, 0}));
    SLUICE_ASSIGN_OR_RETURN(auto reader,
                            fs_->Open(keep->path(), io::OpenOptions{.read_only = true}));
    active_reader_ = std::move(reader);
  }
  SLUICE_ASSIGN_OR_RETURN(SegmentScan scan,
                          ScanSegment(*active_reader_, keep->base(), keep->path()));
  if (!scan.stop.ok() || scan.index.next_offset() != new_next) {
    return Status::Corruption("segment " + keep->path() + " does not end at " +
                              std::to_string(new_next.value()) +
                              " after truncation: " + scan.stop.ToString());
  }
  active_index_ = std::make_unique<Index>(std::move(scan.index));
  active_created_ms_ = opts_.clock->NowMs();
  next_ = new_next;
  written_ = durable_ = new_next.value();
  return fs_->SyncDir(dir_);
}

Status Log::DeleteSegmentFiles(const std::shared_ptr<Segment>& seg) {
  cache_.Erase(seg->base());
  if (fs_->Exists(seg->index_path())) SLUICE_TRY(fs_->Remove(seg->index_path()));
  SLUICE_TRY(fs_->Remove(seg->path()));
  return fs_->SyncDir(dir_);
}

void Log::SetRetention(int64_t retention_ms, uint64_t retention_bytes) {
  retention_ms_.store(retention_ms);
  retention_bytes_.store(retention_bytes);
}

Result<RetentionResult> Log::EnforceRetention() {
  MutexLock m(&maintenance_mu_);
  std::vector<std::shared_ptr<Segment>> sealed;
  uint64_t active_bytes;
  {
    MutexLock l(&mu_);
    sealed.assign(segments_.begin(), std::prev(segments_.end()));
    active_bytes = active_index_->data_end();
  }
  // Summaries of sealed segments (opening the ones not seen yet).
  std::vector<Segment::Summary> sums;
  uint64_t total = active_bytes;
  for (const auto& seg : sealed) {
    auto sum = seg->summary();
    if (!sum) {
      std::string note;
      SLUICE_TRY(cache_.Get(seg, &note).status());
      if (!note.empty()) Note(note);
      sum = seg->summary();
    }
    sums.push_back(*sum);
    total += sum->data_bytes;
  }
  TimestampMs now = opts_.clock->NowMs();
  const int64_t retention_ms = retention_ms_.load();
  const uint64_t retention_bytes = retention_bytes_.load();
  size_t drop = 0;
  RetentionResult result;
  for (; drop < sealed.size(); ++drop) {
    bool expired = retention_ms > 0 && sums[drop].max_timestamp < now - retention_ms;
    bool over = retention_bytes > 0 && total > retention_bytes;
    if (!expired && !over) break;
    total -= sums[drop].data_bytes;
    result.bytes_deleted += sums[drop].data_bytes;
  }
  {
    MutexLock l(&mu_);
    for (size_t i = 0; i < drop; ++i) {
      SLUICE_CHECK(segments_.front() == sealed[i], "only retention removes the oldest segments");
      segments_.pop_front();
    }
    result.start = SequenceNumber(segments_.front()->base().value());
  }
  for (size_t i = 0; i < drop; ++i) SLUICE_TRY(DeleteSegmentFiles(sealed[i]));
  result.segments_deleted = drop;
  return result;
}

}  // namespace sluice::log
