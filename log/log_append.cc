// SPDX-License-Identifier: Apache-2.0
// Log: the append path. Group commit after leveldb's DBImpl::Write: writers queue under the
// mutex; the front one leads, takes every waiting batch (up to max_group_bytes), writes them
// with one write and at most one fdatasync with the mutex released, then wakes the group.
#include <algorithm>
#include <cstring>

#include "log/log.h"

namespace sluice::log {

struct Log::Writer {
  explicit Writer(Mutex* mu) : cv(mu) {}
  std::span<const std::byte> batch;  // Empty: a sync or roll request.
  Epoch epoch;
  bool force_sync = false;
  bool force_roll = false;
  const std::function<Status()>* exclusive = nullptr;  // Runs alone with mu_ held.
  bool done = false;
  Status status;
  AppendResult result;
  CondVar cv;
};

struct Log::Group {
  std::vector<Writer*> members;
  struct Placed {
    std::span<const std::byte> batch;  // The caller's bytes, before restamping.
    Epoch epoch;
    SequenceNumber base;
    SequenceNumber next;
    uint64_t position;  // Relative to the group's start; in the segment once written.
    uint32_t length;
    TimestampMs max_ts;  // After restamping.
  };
  std::vector<Placed> placed;
  uint64_t bytes = 0;
  std::optional<TimestampMs> stamp;  // The append time, with log_append_time.
  bool sync = false;
  bool roll = false;
};

Result<std::span<const std::byte>> Log::PrepareBatch(std::span<const std::byte> batch,
                                                     std::string* compressed) const {
  SLUICE_ASSIGN_OR_RETURN(RecordBatchView view, RecordBatchView::Parse(batch));
  if (view.header().length != batch.size()) {
    return Status::InvalidArgument("append takes exactly one batch; found trailing bytes");
  }
  if (opts_.compression == format::Codec::kZstd && view.header().codec() == format::Codec::kNone) {
    SLUICE_ASSIGN_OR_RETURN(*compressed, CompressBatch(view, opts_.zstd_level));
    return AsBytes(*compressed);
  }
  return batch;
}

Result<AppendResult> Log::Append(std::span<const std::byte> batch, Epoch epoch) {
  std::string compressed;
  SLUICE_ASSIGN_OR_RETURN(batch, PrepareBatch(batch, &compressed));
  Writer w(&mu_);
  w.batch = batch;
  w.epoch = epoch;
  return Enqueue(&w);
}

std::vector<Result<AppendResult>> Log::AppendBatches(
    std::span<const std::span<const std::byte>> batches, Epoch epoch) {
  std::vector<Result<AppendResult>> results(batches.size(), Status::Aborted("not appended"));
  std::vector<std::string> compressed(batches.size());
  std::vector<std::unique_ptr<Writer>> writers(batches.size());
  for (size_t i = 0; i < batches.size(); ++i) {
    Result<std::span<const std::byte>> prepared = PrepareBatch(batches[i], &compressed[i]);
    if (!prepared.ok()) {
      results[i] = prepared.status();
      continue;
    }
    writers[i] = std::make_unique<Writer>(&mu_);
    writers[i]->batch = *prepared;
    writers[i]->epoch = epoch;
  }
  MutexLock l(&mu_);
  if (closed_) {
    for (size_t i = 0; i < batches.size(); ++i) {
      if (writers[i]) results[i] = Status::Aborted("log is closed");
    }
    return results;
  }
  for (const auto& w : writers) {
    if (w) writers_.push_back(w.get());
  }
  bool failed = false;
  for (size_t i = 0; i < batches.size(); ++i) {
    Writer* w = writers[i].get();
    if (w == nullptr) continue;
    if (failed && !w->done) {
      // A write of this call failed: none of its later batches may land after the gap (an
      // idempotent producer's sequence would skip one). Only this thread leads its own queued
      // writers, so one not done yet was not written: withdraw it.
      auto it = std::find(writers_.begin(), writers_.end(), w);
      const bool was_front = it == writers_.begin();
      writers_.erase(it);
      if (was_front && !writers_.empty()) writers_.front()->cv.Signal();
      results[i] = Status::Aborted("not appended: an earlier batch of the same call failed");
      continue;
    }
    results[i] = Await(w);
    failed |= !results[i].ok();
  }
  return results;
}

Status Log::Sync() {
  Writer w(&mu_);
  w.force_sync = true;
  return Enqueue(&w).status();
}

Status Log::Roll() {
  Writer w(&mu_);
  w.force_roll = true;
  return Enqueue(&w).status();
}

Result<AppendResult> Log::Enqueue(Writer* w) {
  MutexLock l(&mu_);
  if (closed_) return Status::Aborted("log is closed");
  writers_.push_back(w);
  return Await(w);
}

Result<AppendResult> Log::Await(Writer* w) {
  while (!w->done && w != writers_.front()) w->cv.Wait();
  if (w->done) {
    if (!w->status.ok()) return w->status;
    return w->result;
  }
  if (w->exclusive != nullptr) {
    Status s = (*w->exclusive)();
    writers_.pop_front();
    if (!writers_.empty()) writers_.front()->cv.Signal();
    return s.ok() ? Result<AppendResult>(AppendResult{}) : Result<AppendResult>(s);
  }
  // This thread leads a group. Close() may have run while it was queued.
  const uint64_t durable_before = durable_;
  Group g;
  Status s = closed_ ? Status::Aborted("log is closed") : sticky_error_;
  if (s.ok()) {
    BuildGroup(&g);
    bool rolled = false;
    uint64_t active_bytes = writer_->size() - format::kSegmentHeaderSize;
    bool by_size =
        g.bytes > 0 && writer_->size() + g.bytes > opts_.segment_bytes && active_bytes > 0;
    bool by_age = opts_.roll_ms > 0 && active_bytes > 0 &&
                  opts_.clock->NowMs() - active_created_ms_ >= opts_.roll_ms;
    if (g.roll || by_size || by_age) s = SealActive(&rolled);
    if (s.ok()) {
      mu_.Unlock();
      s = WriteGroup(&g);
      mu_.Lock();
    }
    if (s.ok()) {
      for (const Group::Placed& p : g.placed) {
        active_index_->Add(p.base, p.next, p.position, p.length, p.max_ts);
      }
      if (!g.placed.empty()) next_ = g.placed.back().next;
      written_ = next_.value();
      if (g.sync) {
        durable_ = written_;
        last_sync_ns_ = opts_.clock->MonotonicNs();
        stats_.syncs++;
      } else if (opts_.durability.mode == Durability::Mode::kNever) {
        durable_ = written_;  // Never: acknowledged as durable once written (documented).
      }
      stats_.appends += g.placed.size();
      stats_.bytes += g.bytes;
      if (!g.placed.empty()) stats_.group_commits++;
    } else if (g.sync && !s.IsNoSpace()) {
      // After a failed fdatasync the page cache state is unknown (fsyncgate): stop here.
      sticky_error_ = Status::IOError("log failed to sync; reopen to recover: " + s.ToString());
    }
  }
  for (size_t i = 0; i < g.members.size(); ++i) {
    Writer* m = g.members[i];
    writers_.pop_front();
    m->status = s;
    if (s.ok() && !m->batch.empty()) {
      const Group::Placed& p = g.placed[std::count_if(g.members.begin(), g.members.begin() + i,
                                                      [](Writer* x) { return !x->batch.empty(); })];
      m->result = {p.base, SequenceNumber(p.next.value() - 1)};
    }
    m->done = true;
    if (m != w) m->cv.Signal();
  }
  if (g.members.empty()) {  // The error path built no group.
    writers_.pop_front();
  }
  if (!writers_.empty()) writers_.front()->cv.Signal();
  if (durable_ > durable_before && opts_.on_durable) {
    DurableWatermark d(durable_);
    mu_.Unlock();  // The callback runs without the log's lock.
    opts_.on_durable(d);
    mu_.Lock();
  }
  if (!s.ok()) return s;
  return w->result;
}

// Takes waiting writers from the front into `g`, assigning sequence numbers. Copies nothing:
// WriteGroup copies each batch once, into the segment writer's buffer.
void Log::BuildGroup(Group* g) {
  SequenceNumber next = next_;
  if (opts_.log_append_time) {
    // Append times never go backwards within a log, even if the wall clock does.
    last_stamp_ = std::max(opts_.clock->NowMs(), last_stamp_);
    g->stamp = last_stamp_;
  }
  for (Writer* m : writers_) {
    if (m->exclusive != nullptr) break;
    if (!g->members.empty() && !m->batch.empty() &&
        g->bytes + m->batch.size() > opts_.max_group_bytes) {
      break;
    }
    g->members.push_back(m);
    g->sync |= m->force_sync;
    g->roll |= m->force_roll;
    if (m->batch.empty()) continue;
    auto h = PeekBatchHeader(m->batch);
    SLUICE_CHECK(h.ok(), "Append validated the batch");
    TimestampMs max_ts = g->stamp ? *g->stamp : h->max_timestamp;  // As RestampBatch sets it.
    g->placed.push_back({m->batch, m->epoch, next, SequenceNumber(next.value() + h->record_count),
                         g->bytes, h->length, max_ts});
    next = g->placed.back().next;
    g->bytes += m->batch.size();
  }
  if (opts_.durability.mode == Durability::Mode::kAlways && !g->placed.empty()) g->sync = true;
  if (opts_.durability.mode == Durability::Mode::kInterval && !g->placed.empty() &&
      opts_.clock->MonotonicNs() - last_sync_ns_ >= opts_.durability.interval_ms * 1'000'000) {
    g->sync = true;
  }
}

// Runs without mu_: only the group leader touches writer_ and the segment file's tail.
Status Log::WriteGroup(Group* g) NO_THREAD_SAFETY_ANALYSIS {
  uint64_t base_pos = writer_->size();
  if (g->bytes > 0) {
    std::span<std::byte> out = writer_->Reserve(g->bytes);
    for (Group::Placed& p : g->placed) {
      std::span<std::byte> dst = out.subspan(p.position, p.length);
      std::memcpy(dst.data(), p.batch.data(), p.length);
      RestampBatch(dst, p.base, p.epoch, g->stamp);
      p.position += base_pos;
    }
  }
  if (!opts_.on_group_commit) return writer_->Commit(g->sync);
  const int64_t start = g->sync ? opts_.clock->MonotonicNs() : 0;
  Status s = writer_->Commit(g->sync);
  if (s.ok()) {
    opts_.on_group_commit(GroupCommitInfo{g->placed.size(), g->bytes,
                                          g->sync ? opts_.clock->MonotonicNs() - start : 0});
  }
  return s;
}

// Seals the active segment and opens a new one at next_. Called by the group leader. The new
// segment is created first: when that fails (ENOSPC), nothing has changed.
Status Log::SealActive(bool* rolled) {
  *rolled = false;
  if (active_index_->empty()) return Status::OK();
  auto seg = std::make_shared<Segment>(fs_, dir_, SegmentId(next_.value()));
  SegmentWriterOptions wo{opts_.direct_io, opts_.preallocate ? opts_.segment_bytes : 0};
  SLUICE_ASSIGN_OR_RETURN(
      auto writer, SegmentWriter::Create(fs_, seg->path(), seg->base(), opts_.clock->NowMs(), wo));
  auto reader = fs_->Open(seg->path(), io::OpenOptions{.read_only = true});
  Status s = reader.status();
  if (s.ok()) s = writer_->Seal();
  if (!s.ok()) {
    writer.reset();
    // Its creation was made durable, so its removal must be too, or a crash brings it back.
    Status undo = fs_->Remove(seg->path());
    if (undo.ok()) undo = fs_->SyncDir(dir_);
    if (!undo.ok()) {
      return Status::IOError(s.ToString() +
                             "; and the new segment could not be removed: " + undo.ToString());
    }
    return s;
  }
  std::shared_ptr<Segment> old = segments_.back();
  durable_ = written_;
  // The index is an optimisation (rebuilt when missing), so failing to write it is not fatal.
  if (Status idx = WriteIndexFile(fs_, old->index_path(), *active_index_, /*clean=*/true);
      !idx.ok()) {
    Note("could not write index " + old->index_path() + ": " + idx.ToString());
  }
  std::shared_ptr<const Index> sealed_index(std::move(active_index_));
  old->set_summary(
      {sealed_index->data_end(), sealed_index->next_offset(), sealed_index->max_timestamp()});
  cache_.Put(old->base(), OpenedSegment{active_reader_, sealed_index});
  writer_ = std::move(writer);
  active_reader_ = std::move(reader).value();
  active_index_ = std::make_unique<Index>(seg->base());
  active_created_ms_ = opts_.clock->NowMs();
  segments_.push_back(seg);
  stats_.rolls++;
  *rolled = true;
  return Status::OK();
}

Status Log::RunExclusive(const std::function<Status()>& fn) {
  Writer w(&mu_);
  w.exclusive = &fn;
  return Enqueue(&w).status();
}

// Interval durability: syncs whatever is unsynced every interval_ms, so that an idle log
// never stays undurable for longer than the interval.
void Log::FlusherLoop() {
  std::unique_lock<std::mutex> lk(flusher_mu_);
  while (!stop_flusher_) {
    flusher_cv_.wait_for(lk, std::chrono::milliseconds(opts_.durability.interval_ms));
    if (stop_flusher_) break;
    lk.unlock();
    bool dirty;
    {
      MutexLock l(&mu_);
      dirty = durable_ < written_ && !closed_;
    }
    if (dirty) (void)Sync();
    lk.lock();
  }
}

}  // namespace sluice::log
