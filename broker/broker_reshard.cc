// SPDX-License-Identifier: Apache-2.0
// Broker: resharding: SplitShard, MergeShards and UpdateShardCount (kinesis-api.md §4, §6).
// Every call plans the new metadata on a copy (ReshardPlan), then CommitReshard makes it real.
#include <algorithm>
#include <set>
#include <utility>

#include "broker/broker.h"
#include "broker/hash_key.h"
#include "broker/shard_name.h"
#include "broker/stream_name.h"
#include "log/base/check.h"

namespace sluice::broker {
namespace {

// Resharding steps applied to a copy of a stream's metadata. Shards are looked up by id on
// each step (adding shards reallocates the vector). Shards the plan creates get ids from
// next_shard_id, so `shards` stays in ascending ShardId order.
class ReshardPlan {
 public:
  explicit ReshardPlan(StreamMetadata meta) : meta_(std::move(meta)) {}

  // Precondition: `parent` is open and start < new_start <= end. Returns the children
  // [start, new_start-1] and [new_start, end].
  std::pair<ShardId, ShardId> Split(ShardId parent, HashKey new_start) {
    const ShardMetadata p = *meta_.FindShard(parent);
    SLUICE_CHECK(p.open() && p.range.start < new_start && new_start <= p.range.end,
                 "bad internal split");
    Close(parent);
    const ShardGeneration gen = ChildGeneration(p.generation);
    const ShardId low =
        Add({p.range.start, HashKey(new_start.value() - 1)}, parent, std::nullopt, gen);
    const ShardId high = Add({new_start, p.range.end}, parent, std::nullopt, gen);
    return {low, high};
  }

  // Precondition: both open, ranges adjacent (MergeHashKeyRanges passed).
  ShardId Merge(ShardId shard, ShardId adjacent) {
    const ShardMetadata a = *meta_.FindShard(shard);
    const ShardMetadata b = *meta_.FindShard(adjacent);
    SLUICE_CHECK(a.open() && b.open(), "bad internal merge");
    Close(shard);
    Close(adjacent);
    const HashKeyRange range{std::min(a.range.start, b.range.start),
                             std::max(a.range.end, b.range.end)};
    return Add(range, shard, adjacent, ChildGeneration(a.generation, b.generation));
  }

  const StreamMetadata& meta() const { return meta_; }
  // Shards open before the plan that it closes, in closing order.
  const std::vector<ShardId>& sealed() const { return sealed_; }
  bool changed() const { return !sealed_.empty(); }

 private:
  void Close(ShardId id) {
    ShardMetadata* s = meta_.FindShard(id);
    // A shard the plan created holds no records: it ends where it starts. A pre-existing one
    // gets its real end when CommitReshard seals it.
    s->ending_offset = s->starting_offset;
    if (!created_.contains(id)) sealed_.push_back(id);
  }

  ShardId Add(HashKeyRange range, ShardId parent, std::optional<ShardId> adjacent,
              ShardGeneration generation) {
    const ShardId id = meta_.next_shard_id;
    meta_.next_shard_id = ShardId(id.value() + 1);
    meta_.shards.push_back(ShardMetadata{.id = id,
                                         .range = range,
                                         .parent = parent,
                                         .adjacent_parent = adjacent,
                                         .generation = generation,
                                         .starting_offset = SequenceNumber(0),
                                         .ending_offset = std::nullopt});
    created_.insert(id);
    return id;
  }

  StreamMetadata meta_;
  std::set<ShardId> created_;
  std::vector<ShardId> sealed_;
};

// Kinesis's NewStartingHashKey pattern: 0|([1-9]\d{0,38}).
bool MatchesHashKeyPattern(std::string_view text) {
  if (text.empty() || text.size() > 39) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The open shard named `shard_id` of `meta`, or Kinesis's NotFound / not-eligible errors.
Result<const ShardMetadata*> FindReshardable(const StreamMetadata& meta, std::string_view shard_id,
                                             const ReshardContext& ctx) {
  const std::string where =
      " in stream " + std::string(ctx.stream) + " under account " + std::string(ctx.account);
  const std::optional<ShardId> id = ParseShardName(shard_id);
  const ShardMetadata* s = id ? meta.FindShard(*id) : nullptr;
  if (s == nullptr) {
    return Status::NotFound("Could not find shard " + std::string(shard_id) + where + ".");
  }
  if (!s->open()) {
    return Status::InvalidArgument(
        "Shard " + std::string(shard_id) + where +
        " has already been merged or split, and thus is not eligible for merging or splitting.");
  }
  return s;
}

}  // namespace

Result<std::shared_ptr<const Stream>> Broker::FindStreamLocked(std::string_view name) const {
  if (closed_) return Status::Aborted("broker is closed");
  auto it = streams_.find(name);
  if (it == streams_.end()) return StreamNotFound(name);
  return it->second;
}

Status Broker::SplitShard(std::string_view stream_name, std::string_view shard_to_split,
                          std::string_view new_starting_hash_key) {
  SLUICE_TRY(ValidateStreamName(stream_name));
  if (!MatchesHashKeyPattern(new_starting_hash_key)) {
    return Status::InvalidArgument(
        "1 validation error detected: Value '" + std::string(new_starting_hash_key) +
        "' at 'newStartingHashKey' failed to satisfy constraint: Member must satisfy regular "
        "expression pattern: 0|([1-9]\\d{0,38})");
  }
  MutexLock lock(&mu_);
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> stream, FindStreamLocked(stream_name));
  const ReshardContext ctx{stream_name, opts_.account};
  SLUICE_ASSIGN_OR_RETURN(const ShardMetadata* parent,
                          FindReshardable(stream->meta(), shard_to_split, ctx));
  const std::optional<HashKey> key = HashKey::FromDecimal(new_starting_hash_key);
  if (!key) {
    // Above 2^128-1: certainly not below the shard's EndingHashKey. Same wording as
    // SplitHashKeyRange, which cannot take the value.
    return Status::InvalidArgument(
        "NewStartingHashKey " + std::string(new_starting_hash_key) +
        " used in SplitShard() on shard " + std::string(shard_to_split) + " in stream " +
        std::string(stream_name) + " under account " + opts_.account +
        " is not both greater than one plus the shard's StartingHashKey " +
        parent->range.start.ToString() + " and less than the shard's EndingHashKey " +
        parent->range.end.ToString() + ".");
  }
  SLUICE_TRY(SplitHashKeyRange(parent->range, *key, shard_to_split, ctx).status());
  ReshardPlan plan(stream->meta());
  plan.Split(parent->id, *key);
  return CommitReshard(stream, plan.meta(), plan.sealed());
}

Status Broker::MergeShards(std::string_view stream_name, std::string_view shard_to_merge,
                           std::string_view adjacent_shard_to_merge) {
  SLUICE_TRY(ValidateStreamName(stream_name));
  MutexLock lock(&mu_);
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> stream, FindStreamLocked(stream_name));
  const ReshardContext ctx{stream_name, opts_.account};
  SLUICE_ASSIGN_OR_RETURN(const ShardMetadata* shard,
                          FindReshardable(stream->meta(), shard_to_merge, ctx));
  SLUICE_ASSIGN_OR_RETURN(const ShardMetadata* adjacent,
                          FindReshardable(stream->meta(), adjacent_shard_to_merge, ctx));
  SLUICE_TRY(MergeHashKeyRanges(shard->range, shard_to_merge, adjacent->range,
                                adjacent_shard_to_merge, ctx)
                 .status());
  ReshardPlan plan(stream->meta());
  plan.Merge(shard->id, adjacent->id);
  return CommitReshard(stream, plan.meta(), plan.sealed());
}

Result<UpdateShardCountResult> Broker::UpdateShardCount(std::string_view stream_name,
                                                        uint32_t target, ScalingType scaling_type) {
  SLUICE_TRY(ValidateStreamName(stream_name));
  if (target < 1 || target > kMaxShardsPerStream) {
    return Status::InvalidArgument(
        "1 validation error detected: Value '" + std::to_string(target) +
        "' at 'targetShardCount' failed to satisfy constraint: Member must have value " +
        (target < 1 ? "greater than or equal to 1"
                    : "less than or equal to " + std::to_string(kMaxShardsPerStream)));
  }
  SLUICE_CHECK(scaling_type == ScalingType::kUniformScaling, "unknown scaling type");
  MutexLock lock(&mu_);
  SLUICE_ASSIGN_OR_RETURN(std::shared_ptr<const Stream> stream, FindStreamLocked(stream_name));
  ReshardPlan plan(stream->meta());
  // The open shards by range; they partition the hash-key space.
  std::vector<std::pair<HashKeyRange, ShardId>> open;
  for (const ShardMetadata& s : stream->meta().shards) {
    if (s.open()) open.emplace_back(s.range, s.id);
  }
  std::sort(open.begin(), open.end(),
            [](const auto& a, const auto& b) { return a.first.start < b.first.start; });
  const UpdateShardCountResult result{static_cast<uint32_t>(open.size()), target};
  const std::vector<HashKeyRange> ranges = EvenSplit(target);
  // 1. Split wherever a target range starts inside an open shard.
  for (size_t i = 1; i < ranges.size(); ++i) {
    const HashKey b = ranges[i].start;
    auto it =
        std::find_if(open.begin(), open.end(), [&](const auto& o) { return o.first.Contains(b); });
    SLUICE_CHECK(it != open.end(), "open shards do not cover the hash-key space");
    if (it->first.start == b) continue;
    const HashKeyRange whole = it->first;
    const auto [low, high] = plan.Split(it->second, b);
    *it = {HashKeyRange{whole.start, HashKey(b.value() - 1)}, low};
    open.insert(it + 1, {HashKeyRange{b, whole.end}, high});
  }
  // 2. Each target range is now a run of consecutive open shards: merge it left to right.
  size_t next = 0;
  for (const HashKeyRange& range : ranges) {
    SLUICE_CHECK(next < open.size() && open[next].first.start == range.start,
                 "split left a target boundary inside a shard");
    ShardId merged = open[next++].second;
    while (next < open.size() && open[next].first.end <= range.end) {
      merged = plan.Merge(merged, open[next++].second);
    }
  }
  if (plan.changed()) SLUICE_TRY(CommitReshard(stream, plan.meta(), plan.sealed()));
  return result;
}

Status Broker::CommitReshard(const std::shared_ptr<const Stream>& current, StreamMetadata next,
                             const std::vector<ShardId>& sealed) {
  Stream::ShardMap shards = current->shards();
  std::vector<std::shared_ptr<Shard>> created;
  auto close_created = [&] {
    for (const auto& shard : created) {
      if (Status s = shard->Close(); !s.ok()) Log("resharding: closing child: " + s.ToString());
    }
  };
  // 1. The new logs, unreachable until published. A failure leaves empty directories that a
  // later resharding reuses (the ids are not consumed) or that hold an empty log.
  for (const ShardMetadata& s : next.shards) {
    if (shards.contains(s.id)) continue;
    Result<std::shared_ptr<Shard>> shard = OpenShard(next, s);
    Status st = shard.status();
    if (st.ok() && !s.open()) st = (*shard)->Close();  // An intermediate shard: empty, closed.
    if (!st.ok()) {
      close_created();
      return st;
    }
    created.push_back(*shard);
    shards.emplace(s.id, std::move(shard).value());
  }
  // 2. Seal the parents: writers holding the old snapshot now fail with Aborted and re-route.
  Status failed;
  size_t sealed_count = 0;
  for (ShardId id : sealed) {
    ++sealed_count;
    Result<SequenceNumber> end = shards.at(id)->Seal();
    if (!end.ok()) {
      failed = end.status();
      break;
    }
    next.FindShard(id)->ending_offset = *end;
  }
  // 3. Durable before any write can reach a child.
  if (failed.ok()) failed = store_->Update(next);
  if (!failed.ok()) {
    // `current` keeps serving: its sealed parents are reopened for writes. (If the store lost
    // track of the disk state it refuses further changes until the broker is reopened.)
    Stream::ShardMap restored = current->shards();
    for (size_t k = 0; k < sealed_count; ++k) {
      const ShardMetadata* meta = current->meta().FindShard(sealed[k]);
      Result<std::shared_ptr<Shard>> reopened = OpenShard(current->meta(), *meta);
      if (!reopened.ok()) {
        Log("resharding: reopening " + ShardName(sealed[k]) + ": " + reopened.status().ToString());
        continue;
      }
      restored[sealed[k]] = std::move(reopened).value();
    }
    streams_[current->meta().name] =
        std::make_shared<const Stream>(current->meta(), std::move(restored));
    version_.fetch_add(1, std::memory_order_release);
    close_created();
    return failed;
  }
  // 4. Publish.
  const std::string name = next.name;
  streams_[name] = std::make_shared<const Stream>(std::move(next), std::move(shards));
  version_.fetch_add(1, std::memory_order_release);
  return Status::OK();
}

}  // namespace sluice::broker
