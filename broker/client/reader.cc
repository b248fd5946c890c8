// SPDX-License-Identifier: Apache-2.0
#include "broker/client/reader.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "broker/native_records.h"

namespace sluice::client {

Reader::Reader(Connection* connection, std::string stream, ReaderOptions options)
    : conn_(connection),
      stream_(std::move(stream)),
      opts_(std::move(options)),
      inbox_(std::make_shared<Inbox>()) {}

Reader::~Reader() {
  for (const auto& [cid, shard] : in_flight_) conn_->Cancel(cid);
}

Result<std::unique_ptr<Reader>> Reader::Open(Connection* connection, std::string stream,
                                             ReaderOptions options) {
  std::unique_ptr<Reader> r(new Reader(connection, std::move(stream), std::move(options)));
  SLUICE_TRY(r->Describe());
  std::vector<ShardId> selected = r->opts_.shards;
  using Type = StartingPosition::Type;
  const Type type = r->opts_.from.type;
  if (selected.empty()) {
    if (type == Type::kAtSequence || type == Type::kAfterSequence) {
      SLUICE_ASSIGN_OR_RETURN(auto parts, broker::ParseSequenceNumber(r->opts_.from.sequence));
      selected.push_back(parts.shard);
    } else {
      for (const auto& [id, desc] : r->described_) {
        if (type != Type::kLatest || !IsClosed(desc)) selected.push_back(ShardId(id));
      }
    }
  }
  for (ShardId s : selected) SLUICE_TRY(r->AddShard(s, r->opts_.from));
  r->Activate();
  return r;
}

Status Reader::Describe() {
  SLUICE_ASSIGN_OR_RETURN(StreamDescription desc, Admin(conn_).DescribeStream(stream_));
  described_.clear();
  for (auto& s : desc.shards) described_[s.shard_id] = s;
  return Status::OK();
}

Status Reader::AddShard(ShardId shard, const StartingPosition& start) {
  if (cursors_.count(shard) != 0) return Status::OK();
  if (described_.count(shard.value()) == 0) SLUICE_TRY(Describe());
  auto it = described_.find(shard.value());
  if (it == described_.end()) {
    return Status::NotFound("stream " + stream_ + " has no shard " + std::to_string(shard.value()));
  }
  Cursor c;
  c.shard = shard;
  SLUICE_ASSIGN_OR_RETURN(c.generation, ShardGenerationOf(it->second));
  for (uint32_t p : it->second.parent_shards) c.parents.push_back(ShardId(p));
  c.start = start;
  c.next_offset = FirstOffset(start, shard);
  c.state = State::kWaitingForParents;
  cursors_.emplace(shard, std::move(c));
  return Status::OK();
}

// A shard is read once every parent this reader reads has ended, so that a key's records come
// in order across a resharding.
void Reader::Activate() {
  for (auto& [id, c] : cursors_) {
    if (c.state != State::kWaitingForParents) continue;
    bool ready = std::all_of(c.parents.begin(), c.parents.end(), [&](ShardId p) {
      auto it = cursors_.find(p);
      return it == cursors_.end() || it->second.state == State::kEnded;
    });
    if (ready) c.state = State::kIdle;
  }
}

Status Reader::StartFetches() {
  for (auto& [id, c] : cursors_) {
    if (c.state != State::kIdle) continue;
    if (c.iterator.empty()) {
      StartingPosition from = c.start;
      if (!c.last_sequence.empty()) {
        from = StartingPosition{StartingPosition::Type::kAfterSequence, c.last_sequence, 0};
      }
      SLUICE_ASSIGN_OR_RETURN(c.iterator, Admin(conn_).GetShardIterator(stream_, c.shard, from));
    }
    native::FetchRequest req;
    req.stream = stream_;
    req.shard_id = c.shard.value();
    req.from = native::FetchRequest::From::kIterator;
    req.iterator = c.iterator;
    req.max_bytes = opts_.max_bytes;
    req.max_wait_ms = opts_.follow ? opts_.max_wait_ms : 0;
    std::shared_ptr<Inbox> inbox = inbox_;
    const ShardId shard = c.shard;
    SLUICE_ASSIGN_OR_RETURN(uint64_t cid,
                            conn_->CallAsync(req.kType, native::EncodeBody(req),
                                             [inbox, shard](Result<native::Frame> frame) {
                                               std::lock_guard<std::mutex> l(inbox->mu);
                                               inbox->arrivals.push_back({shard, std::move(frame)});
                                               inbox->cv.notify_one();
                                             }));
    in_flight_[cid] = shard;
    c.state = State::kFetching;
  }
  return Status::OK();
}

Result<std::vector<ReadRecord>> Reader::Next() {
  std::vector<ReadRecord> out;
  for (;;) {
    SLUICE_TRY(StartFetches());
    const bool fetching = std::any_of(cursors_.begin(), cursors_.end(), [](const auto& c) {
      return c.second.state == State::kFetching;
    });
    std::deque<Arrival> got;
    {
      std::unique_lock<std::mutex> lk(inbox_->mu);
      if (!fetching && inbox_->arrivals.empty()) return out;  // Done.
      const int64_t timeout_ms = conn_->options().request_timeout_ms;
      auto ready = [&] { return !inbox_->arrivals.empty(); };
      if (timeout_ms > 0) {
        auto wait = std::chrono::milliseconds(timeout_ms + (opts_.follow ? opts_.max_wait_ms : 0));
        if (!inbox_->cv.wait_for(lk, wait, ready)) {
          return Status::Unavailable("Fetch unanswered after " + std::to_string(wait.count()) +
                                     " ms");
        }
      } else {
        inbox_->cv.wait(lk, ready);
      }
      got.swap(inbox_->arrivals);
    }
    for (Arrival& a : got) SLUICE_TRY(Handle(std::move(a), &out));
    Activate();
    if (!out.empty() || opts_.follow) return out;
  }
}

Status Reader::Handle(Arrival arrival, std::vector<ReadRecord>* out) {
  for (auto it = in_flight_.begin(); it != in_flight_.end(); ++it) {
    if (it->second == arrival.shard) {
      in_flight_.erase(it);
      break;
    }
  }
  Cursor& c = cursors_.at(arrival.shard);
  if (!arrival.frame.ok()) {
    const Status& s = arrival.frame.status();
    // An expired iterator (Aborted): renew it once after the last record read.
    if (s.code() == Status::Code::kAborted && !c.renewed) {
      c.renewed = true;
      c.iterator.clear();
      c.state = State::kIdle;
      return Status::OK();
    }
    return s.WithContext("Fetch " + stream_ + " shard " + std::to_string(c.shard.value()));
  }
  SLUICE_ASSIGN_OR_RETURN(auto resp, native::DecodeMessage<native::FetchResponse>(*arrival.frame));
  c.renewed = false;
  std::vector<ReadRecord> records;
  SLUICE_ASSIGN_OR_RETURN(c.next_offset, DecodeFetchedRecords(resp.batches, c.shard, c.generation,
                                                              c.next_offset, &records));
  millis_behind_ = resp.millis_behind_latest;
  if (!records.empty()) c.last_sequence = records.back().sequence_number;
  const bool got_records = !records.empty();
  out->insert(out->end(), std::make_move_iterator(records.begin()),
              std::make_move_iterator(records.end()));
  if (resp.next_iterator.empty()) {  // Closed and drained.
    c.state = State::kEnded;
    c.iterator.clear();
    if (opts_.follow_children) {
      for (uint32_t child : resp.child_shards) {
        SLUICE_TRY(AddShard(ShardId(child), StartingPosition{}));
      }
    }
    return Status::OK();
  }
  c.iterator = std::move(resp.next_iterator);
  c.state = (!opts_.follow && !got_records) ? State::kCaughtUp : State::kIdle;
  return Status::OK();
}

bool Reader::done() const {
  return std::none_of(cursors_.begin(), cursors_.end(), [](const auto& c) {
    return c.second.state == State::kIdle || c.second.state == State::kFetching;
  });
}

std::vector<ShardId> Reader::shards() const {
  std::vector<ShardId> out;
  for (const auto& [id, c] : cursors_) out.push_back(id);
  return out;
}

}  // namespace sluice::client
