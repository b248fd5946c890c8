// SPDX-License-Identifier: Apache-2.0
// Log: opening and recovery, reads and accessors. Appends live in log_append.cc, truncation
// and retention in log_maintenance.cc.
#include "log/log.h"

#include <algorithm>
#include <cstdio>

#include "log/filename.h"
#include "log/segment_header.h"
#include "log/segment_reader.h"

namespace sluice::log {

std::vector<RecordBatchView> ReadResult::Batches() const {
  std::vector<RecordBatchView> out;
  auto rest = AsBytes(bytes);
  while (!rest.empty()) {
    auto view = RecordBatchView::Parse(rest);
    SLUICE_CHECK(view.ok(), "ReadResult holds only validated batches");
    rest = rest.subspan(view->header().length);
    out.push_back(*view);
  }
  return out;
}

Log::Log(io::FileSystem* fs, std::string dir, LogOptions options)
    : fs_(fs),
      dir_(std::move(dir)),
      opts_(std::move(options)),
      retention_ms_(opts_.retention_ms),
      retention_bytes_(opts_.retention_bytes),
      cache_(opts_.open_segment_cache) {}

Result<std::unique_ptr<Log>> Log::Open(io::FileSystem* fs, const std::string& dir,
                                       LogOptions options) {
  if (options.segment_bytes <= format::kSegmentHeaderSize ||
      options.segment_bytes > format::kMaxSegmentBytes) {
    return Status::InvalidArgument("segment_bytes must be between 4 KiB and 4 GiB");
  }
  if (options.durability.mode == Durability::Mode::kInterval &&
      options.durability.interval_ms < 1) {
    return Status::InvalidArgument("interval durability needs interval_ms >= 1");
  }
  std::unique_ptr<Log> log(new Log(fs, dir, std::move(options)));
  SLUICE_TRY(log->Recover());
  if (log->opts_.durability.mode == Durability::Mode::kInterval) {
    log->flusher_ = std::thread([l = log.get()] { l->FlusherLoop(); });
  }
  return log;
}

void Log::Note(std::string_view line) const {
  if (opts_.logger) {
    opts_.logger(line);
  } else {
    std::fprintf(stderr, "sluice log %s: %.*s\n", dir_.c_str(), static_cast<int>(line.size()),
                 line.data());
  }
}

Status Log::Recover() {
  SLUICE_TRY(fs_->CreateDirs(dir_));
  SLUICE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(dir_));
  std::vector<SegmentId> bases;
  std::vector<SegmentId> indexes;
  for (const std::string& name : names) {
    auto parsed = ParseFileName(name);
    if (!parsed) continue;
    switch (parsed->type) {
      case FileType::kSegment:
        bases.push_back(parsed->base);
        break;
      case FileType::kIndex:
        indexes.push_back(parsed->base);
        break;
      case FileType::kTemp:
        SLUICE_TRY(fs_->Remove(dir_ + "/" + name));
        report_.notes.push_back("removed leftover temp file " + name);
        break;
    }
  }
  std::sort(bases.begin(), bases.end());
  for (SegmentId idx : indexes) {  // An index whose segment is gone is stale.
    if (!std::binary_search(bases.begin(), bases.end(), idx)) {
      SLUICE_TRY(fs_->Remove(IndexFileName(dir_, idx)));
      report_.notes.push_back("removed orphan index " + IndexFileName(dir_, idx));
    }
  }
  MutexLock l(&mu_);
  for (SegmentId b : bases) segments_.push_back(std::make_shared<Segment>(fs_, dir_, b));
  report_.segments = segments_.size();
  if (segments_.empty()) {
    auto seg = std::make_shared<Segment>(fs_, dir_, SegmentId(0));
    SegmentWriterOptions wo{opts_.direct_io, opts_.preallocate ? opts_.segment_bytes : 0};
    SLUICE_ASSIGN_OR_RETURN(
        writer_, SegmentWriter::Create(fs_, seg->path(), seg->base(), opts_.clock->NowMs(), wo));
    segments_.push_back(seg);
    return OpenActive(seg, format::kSegmentHeaderSize, Index(seg->base()));
  }
  // Sealed segments are trusted lazily (their index checksums and batch checksums on read);
  // the tail is validated batch by batch now. A tail whose creation never completed (no valid
  // header and no data) is removed and the segment before it becomes the tail again.
  std::shared_ptr<Segment> tail;
  std::unique_ptr<io::File> file;
  SegmentScan scan{Index(SegmentId())};
  for (;;) {
    tail = segments_.back();
    SLUICE_ASSIGN_OR_RETURN(file, fs_->Open(tail->path(), io::OpenOptions{.read_only = true}));
    SLUICE_ASSIGN_OR_RETURN(scan, ScanSegment(*file, tail->base(), tail->path()));
    bool unborn = (scan.header_damaged || scan.file_size < format::kSegmentHeaderSize) &&
                  scan.index.empty() && scan.damaged.empty();
    if (!unborn) break;
    SLUICE_ASSIGN_OR_RETURN(uint64_t last, LastNonZeroEnd(*file, 0, scan.file_size));
    file.reset();
    report_.dropped.push_back(
        DroppedRange{tail->path(), 0, last, "segment creation never completed; removed"});
    Note("removed incomplete segment " + tail->path());
    SLUICE_TRY(DeleteSegmentFiles(tail));
    if (segments_.size() == 1) {  // Start it again, empty.
      SegmentWriterOptions wo{opts_.direct_io, opts_.preallocate ? opts_.segment_bytes : 0};
      SLUICE_ASSIGN_OR_RETURN(writer_, SegmentWriter::Create(fs_, tail->path(), tail->base(),
                                                             opts_.clock->NowMs(), wo));
      return OpenActive(tail, format::kSegmentHeaderSize, Index(tail->base()));
    }
    segments_.pop_back();
  }
  report_.scanned_bytes += scan.valid_end;
  for (DamagedRange& d : scan.damaged) {
    Note("corrupt data kept but not served: " + std::to_string(d.bytes) + " bytes at " + d.file +
         ":" + std::to_string(d.position) + " holding records [" + std::to_string(d.first.value()) +
         ", " + std::to_string(d.end.value()) + "): " + d.reason);
    report_.damaged.push_back(d);
  }
  if (scan.header_damaged) {
    report_.notes.push_back("segment header of " + tail->path() +
                            " was damaged; rewritten from its file name");
  }
  if (!scan.stop.ok()) {
    SLUICE_ASSIGN_OR_RETURN(uint64_t last, LastNonZeroEnd(*file, scan.valid_end, scan.file_size));
    DroppedRange d{tail->path(), scan.valid_end, last - scan.valid_end, scan.stop.ToString()};
    Note("recovery dropped " + std::to_string(d.bytes) + " bytes at " + d.file + ":" +
         std::to_string(d.position) + ": " + d.reason);
    report_.dropped.push_back(std::move(d));
  }
  file.reset();
  if (fs_->Exists(tail->index_path())) SLUICE_TRY(fs_->Remove(tail->index_path()));
  SegmentWriterOptions wo{opts_.direct_io, 0};
  SLUICE_ASSIGN_OR_RETURN(writer_,
                          SegmentWriter::OpenForAppend(fs_, tail->path(), scan.valid_end, wo));
  if (scan.header_damaged) {
    SLUICE_TRY(writer_->WriteHeader(SegmentHeader{tail->base(), opts_.clock->NowMs()}));
  }
  return OpenActive(tail, scan.valid_end, std::move(scan.index));
}

// Makes `seg` (whose writer_ is open) the active segment with data up to `end`.
Status Log::OpenActive(const std::shared_ptr<Segment>& seg, uint64_t end, Index index) {
  SLUICE_ASSIGN_OR_RETURN(auto reader, fs_->Open(seg->path(), io::OpenOptions{.read_only = true}));
  active_reader_ = std::move(reader);
  active_index_ = std::make_unique<Index>(std::move(index));
  active_created_ms_ = opts_.clock->NowMs();
  last_stamp_ = active_index_->max_timestamp();
  if (opts_.log_append_time && active_index_->empty() && segments_.size() > 1) {
    // Stamps continue from the newest one given, which is in the segment before.
    std::string note;
    auto prev = cache_.Get(segments_[segments_.size() - 2], &note);
    if (prev.ok()) last_stamp_ = prev->index->max_timestamp();
  }
  next_ = active_index_->next_offset();
  written_ = durable_ = next_.value();
  (void)end;
  return Status::OK();
}

Log::~Log() { (void)Close(); }

Status Log::Close() {
  {
    MutexLock l(&mu_);
    if (closed_) return Status::OK();
  }
  {
    std::lock_guard<std::mutex> fl(flusher_mu_);
    stop_flusher_ = true;
  }
  flusher_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  Status s = Sync();
  Status closing = RunExclusive([&]() NO_THREAD_SAFETY_ANALYSIS {
    if (closed_) return Status::OK();
    closed_ = true;
    Status w;
    if (s.ok() && sticky_error_.ok() && writer_) {
      w = WriteIndexFile(fs_, segments_.back()->index_path(), *active_index_, /*clean=*/true);
    }
    writer_.reset();
    return w;
  });
  return s.ok() ? closing : s;
}

SequenceNumber Log::start() const {
  MutexLock l(&mu_);
  return SequenceNumber(segments_.front()->base().value());
}
SequenceNumber Log::next_offset() const {
  MutexLock l(&mu_);
  return next_;
}
WrittenWatermark Log::written() const {
  MutexLock l(&mu_);
  return WrittenWatermark(written_);
}
DurableWatermark Log::durable() const {
  MutexLock l(&mu_);
  return DurableWatermark(durable_);
}
size_t Log::segment_count() const {
  MutexLock l(&mu_);
  return segments_.size();
}
LogStats Log::stats() const {
  MutexLock l(&mu_);
  return stats_;
}
bool Log::direct_io() const {
  MutexLock l(&mu_);
  return writer_ && writer_->direct();
}

namespace {
// One step of a read plan: a segment's file from `start` to `end`.
struct PlanStep {
  std::shared_ptr<io::File> file;
  std::string path;
  uint64_t start;
  uint64_t end;
  Status damage;  // Set when the segment's valid data ends before the next segment begins.
};

// The base offset of the batch at `pos` of `file` (`fallback` when there is none).
Result<SequenceNumber> OffsetAt(const io::File& file, uint64_t pos, uint64_t end,
                                SequenceNumber fallback) {
  SegmentReader reader(&file, pos, end);
  SLUICE_ASSIGN_OR_RETURN(auto first, reader.Next());
  return first ? first->header().base_offset : fallback;
}
}  // namespace

Result<ReadResult> Log::Read(SequenceNumber from, ReadOptions opts) const {
  std::vector<std::shared_ptr<Segment>> sealed;
  PlanStep active;
  SequenceNumber active_base;
  uint64_t upto;
  {
    MutexLock l(&mu_);
    if (from < SequenceNumber(segments_.front()->base().value())) {
      return Status::NotFound("sequence number " + std::to_string(from.value()) +
                              " is below the trim horizon " +
                              std::to_string(segments_.front()->base().value()));
    }
    if (from > next_) {
      return Status::InvalidArgument("sequence number " + std::to_string(from.value()) +
                                     " is past the end " + std::to_string(next_.value()));
    }
    upto = opts.upto ? std::min(opts.upto->value(), written_) : durable_;
    // The segment holding `from`: the last one whose base is <= from.
    auto it = std::upper_bound(segments_.begin(), segments_.end(), from.value(),
                               [](uint64_t v, const auto& s) { return v < s->base().value(); });
    for (auto s = std::prev(it); s != std::prev(segments_.end()); ++s) sealed.push_back(*s);
    const Index& idx = *active_index_;
    active_base = SequenceNumber(segments_.back()->base().value());
    active = {active_reader_, segments_.back()->path(),
              sealed.empty() ? idx.LookupOffset(from) : format::kSegmentHeaderSize, idx.data_end()};
  }
  ReadResult out;
  out.next = from;
  std::vector<PlanStep> plan;
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string note;
    auto opened = cache_.Get(sealed[i], &note);
    if (!note.empty()) Note(note);
    if (!opened.ok()) return opened.status().WithContext(sealed[i]->path());
    uint64_t start = i == 0 ? opened->index->LookupOffset(from) : format::kSegmentHeaderSize;
    uint64_t following =
        i + 1 < sealed.size() ? sealed[i + 1]->base().value() : active_base.value();
    Status damage;
    if (opened->index->next_offset().value() != following) {
      damage = Status::Corruption(sealed[i]->path() + ": records " +
                                  std::to_string(opened->index->next_offset().value()) + " to " +
                                  std::to_string(following - 1) + " are unreadable from position " +
                                  std::to_string(opened->index->data_end()));
    }
    plan.push_back({opened->file, sealed[i]->path(), start, opened->index->data_end(), damage});
  }
  plan.push_back(active);
  for (const PlanStep& step : plan) {
    SegmentReader reader(step.file.get(), step.start, step.end,
                         std::min<size_t>(opts.max_bytes + format::kBatchHeaderSize, 1 << 20));
    for (;;) {
      auto next = reader.Next();
      if (!next.ok()) {
        if (out.batch_count > 0) return out;
        return next.status().WithContext(step.path);
      }
      if (!next->has_value()) {
        if (reader.position() < step.end) {  // An end before the known end is damage.
          if (out.batch_count > 0) return out;
          return Status::Corruption(step.path + ": no batch at position " +
                                    std::to_string(reader.position()) + ", before the data end " +
                                    std::to_string(step.end));
        }
        break;
      }
      const BatchHeader& h = (*next)->header();
      if (h.next_offset() <= from) continue;  // Before the requested record.
      if (h.next_offset().value() > upto) return out;
      if (out.batch_count > 0 && out.bytes.size() + h.length > opts.max_bytes) return out;
      if ((*next)->ignorable()) {
        out.next = h.next_offset();
        continue;
      }
      out.bytes.append(AsChars((*next)->bytes()));
      out.batch_count++;
      out.next = h.next_offset();
    }
    if (!step.damage.ok() && out.next.value() >= from.value()) {
      if (out.batch_count > 0) return out;
      return step.damage;
    }
  }
  return out;
}

Result<SequenceNumber> Log::LookupTimestamp(TimestampMs ts) const {
  // Walk segments from the oldest whose newest record is >= ts; within it, use the index and
  // then the first record at or after ts.
  std::vector<std::shared_ptr<Segment>> sealed;
  SequenceNumber active_base;
  uint64_t active_start, active_end;
  std::shared_ptr<io::File> active_file;
  {
    MutexLock l(&mu_);
    sealed.assign(segments_.begin(), std::prev(segments_.end()));
    active_base = SequenceNumber(segments_.back()->base().value());
    active_start = active_index_->LookupTimestamp(ts);
    active_end = active_index_->data_end();
    active_file = active_reader_;
  }
  SequenceNumber from = active_base;
  auto max_ts = [&](size_t i) -> Result<TimestampMs> {
    if (auto sum = sealed[i]->summary()) return sum->max_timestamp;
    std::string note;
    SLUICE_ASSIGN_OR_RETURN(OpenedSegment opened, cache_.Get(sealed[i], &note));
    return opened.index->max_timestamp();
  };
  // The first sealed segment holding a record at or after ts. Append times are stamped
  // monotonically, so a binary search finds it; producer times may go backwards, so then
  // every segment's newest timestamp must be looked at in order.
  size_t lo = 0, hi = sealed.size();
  if (opts_.log_append_time) {
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      SLUICE_ASSIGN_OR_RETURN(TimestampMs m, max_ts(mid));
      if (m >= ts) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
  } else {
    for (; lo < hi; ++lo) {
      SLUICE_ASSIGN_OR_RETURN(TimestampMs m, max_ts(lo));
      if (m >= ts) break;
    }
  }
  if (lo < sealed.size()) {
    std::string note;
    SLUICE_ASSIGN_OR_RETURN(OpenedSegment opened, cache_.Get(sealed[lo], &note));
    SLUICE_ASSIGN_OR_RETURN(
        from, OffsetAt(*opened.file, opened.index->LookupTimestamp(ts), opened.index->data_end(),
                       SequenceNumber(sealed[lo]->base().value())));
  } else {
    SLUICE_ASSIGN_OR_RETURN(from, OffsetAt(*active_file, active_start, active_end, active_base));
  }
  // Scan forward record by record from `from`.
  std::string scratch;
  for (SequenceNumber cur = from;;) {
    SLUICE_ASSIGN_OR_RETURN(
        ReadResult r,
        Read(cur, ReadOptions{.max_bytes = 1 << 20, .upto = SequenceNumber(UINT64_MAX)}));
    if (r.batch_count == 0) return r.next;
    for (const RecordBatchView& b : r.Batches()) {
      if (b.header().max_timestamp < ts) continue;
      SLUICE_ASSIGN_OR_RETURN(auto records, b.DecodeRecords(&scratch));
      for (const Record& rec : records) {
        if (rec.timestamp >= ts && rec.offset >= cur) return rec.offset;
      }
    }
    cur = r.next;
  }
}

}  // namespace sluice::log
