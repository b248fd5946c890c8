// SPDX-License-Identifier: Apache-2.0
// Broker: the embedded Sluice broker opened on a directory: streams, PutRecord(s), shard
// iterators and GetRecords with Kinesis semantics (/work/shared/reference/kinesis-api.md §4, §6).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/broker_types.h"
#include "broker/hash_key.h"
#include "broker/metadata_store.h"
#include "broker/shard_iterator.h"
#include "broker/stream.h"
#include "broker/stream_metadata.h"
#include "log/base/clock.h"
#include "log/base/result.h"
#include "log/base/status.h"
#include "log/base/thread_annotations.h"
#include "log/io/file.h"
#include "log/log_options.h"

namespace sluice::broker {

// Status codes (the protocol layer maps them to Kinesis __types):
//  - InvalidArgument: validation (ValidationException / InvalidArgumentException; the message
//    says which), invalid iterators ("Invalid ShardIterator."), and resharding refusals
//    (InvalidArgumentException: bad NewStartingHashKey, non-adjacent merge, a shard that "has
//    already been merged or split").
//  - NotFound: missing stream or shard (ResourceNotFoundException).
//  - Aborted: from control-plane calls (CreateStream), ResourceInUseException ("Stream <s>
//    under account <a> already exists."); from GetRecords, ExpiredIteratorException (see
//    IsExpiredIterator); from any call after Close(), "broker is closed".
//  - IOError / NoSpace / Corruption: storage failures, as the log reports them.
//
// Thread-safety: every method may be called from any thread. Control-plane calls serialize
// on one mutex; data-plane calls take it only to find the stream, then work on the shard
// without it. Durability: control-plane changes are durable on return (MetadataStore); records
// per the log's Durability.
class Broker {
 public:
  // Opens or creates the broker in `dir`: metadata in `<dir>/meta`, shard logs in
  // `<dir>/streams/<stream id>/<shard id number>/`. Recovers every stream's shards and removes
  // directories of streams that no longer exist (left by a crash during DeleteStream).
  // `*fs` and `options.clock` must outlive the broker.
  static Result<std::unique_ptr<Broker>> Open(log::io::FileSystem* fs, std::string dir,
                                              BrokerOptions options);
  ~Broker();  // Close()s.
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // --- Control plane ---------------------------------------------------------------------
  // A stream of `shard_count` (1..kMaxShardsPerStream) evenly split shards, ACTIVE at once,
  // keeping records `retention_hours` (kMinRetentionHours..kMaxRetentionHours).
  Status CreateStream(std::string_view name, uint32_t shard_count,
                      uint32_t retention_hours = kDefaultRetentionHours);
  // Removes the metadata durably, closes the shards and deletes their directories (a failure
  // there is logged, not returned: the next Open finishes the job).
  Status DeleteStream(std::string_view name);
  std::vector<StreamSummary> ListStreams() const;
  Result<StreamDescription> DescribeStream(std::string_view name) const;

  // Sets the stream's retention (kMinRetentionHours..kMaxRetentionHours): durable in the
  // metadata on return and applied by later EnforceRetention calls to every shard. Which
  // direction a caller may move it (Kinesis's Increase/Decrease calls) is the caller's rule.
  Status SetRetentionPeriod(std::string_view name, uint32_t retention_hours);

  // --- Resharding (broker_reshard.cc) -----------------------------------------------------
  // Each call is one atomic metadata change: the closed parents get their ending offset (the
  // offset their next record would have had; they stay readable until retention), the
  // children (generation max(parents) + 1, ids from next_shard_id) are durable in the
  // metadata before any write can reach them. The stream stays ACTIVE throughout (the change
  // is synchronous). A writer routed to a parent that closes under it is re-routed to the
  // children. The open-shard limit is not enforced on splits.
  //
  // Splits `shard_to_split` at `new_starting_hash_key` (decimal): children
  // [start, key-1] and [key, end], both with ParentShardId = the parent.
  Status SplitShard(std::string_view stream, std::string_view shard_to_split,
                    std::string_view new_starting_hash_key);
  // Merges two open shards with adjacent ranges into one child with ParentShardId =
  // `shard_to_merge` and AdjacentParentShardId = `adjacent_shard_to_merge`.
  Status MergeShards(std::string_view stream, std::string_view shard_to_merge,
                     std::string_view adjacent_shard_to_merge);
  // Reshapes the open shards into `target` (1..kMaxShardsPerStream) ranges of EvenSplit(target)
  // as Kinesis does internally: first splits at every target boundary that is not already one,
  // then merges each target range's shards left to right, so every child has at most two
  // parents. Target ranges already matching one open shard are left alone. The intermediate
  // shards of a chain of merges are closed at once, empty. Kinesis's double/half-per-call
  // limits are not enforced.
  Result<UpdateShardCountResult> UpdateShardCount(
      std::string_view stream, uint32_t target,
      ScalingType scaling_type = ScalingType::kUniformScaling);

  // --- Writes ----------------------------------------------------------------------------
  // Routes by MD5(partition_key), or by `explicit_hash_key` when given, to the open shard
  // owning that hash key. `sequence_number_for_ordering` must be a well-formed client
  // sequence number; ordering needs nothing more since offsets only grow within a shard.
  Result<PutRecordResult> PutRecord(
      std::string_view stream, std::string_view partition_key, std::string_view data,
      std::optional<std::string_view> explicit_hash_key = std::nullopt,
      std::optional<std::string_view> sequence_number_for_ordering = std::nullopt);
  // 1..kMaxPutRecordsEntries entries. Entries that fail validation fail alone; the others are
  // grouped per shard, one batch (one append) per shard in request order. Request-level
  // errors (unknown stream, entry count) fail the whole call.
  Result<PutRecordsResult> PutRecords(std::string_view stream,
                                      const std::vector<PutRecordsEntry>& entries);

  // --- Reads -----------------------------------------------------------------------------
  // TRIM_HORIZON: the log start; LATEST: the next offset; AT/AFTER_SEQUENCE_NUMBER: a number
  // issued by this shard (and not past its end); AT_TIMESTAMP: first arrival >= timestamp
  // (not in the future). The token binds the stream's id: a recreated stream refuses it.
  Result<std::string> GetShardIterator(std::string_view stream, std::string_view shard_id,
                                       IteratorType type,
                                       std::optional<std::string_view> starting_sequence_number,
                                       std::optional<TimestampMs> timestamp = std::nullopt);
  // GetShardIterator's validation and resolution without issuing a token (the engine's
  // Subscribe starts from the position; GetShardIterator issues a token for it).
  Result<IteratorPosition> ResolveIterator(std::string_view stream, std::string_view shard_id,
                                           IteratorType type,
                                           std::optional<std::string_view> starting_sequence_number,
                                           std::optional<TimestampMs> timestamp = std::nullopt);
  // Tokens for the engine's Fetch: the same codec GetShardIterator and GetRecords use.
  const IteratorCodec& iterator_codec() const { return codec_; }

  // --- For the engine ----------------------------------------------------------------------
  // The current snapshot of stream `name` (its shards stay alive while it is held); NotFound
  // with Kinesis's text, or Aborted once closed.
  Result<std::shared_ptr<const Stream>> GetStream(std::string_view name) const {
    return FindStream(name);
  }
  // NotFound "Stream <name> under account <a> not found." (for stale iterators).
  Status StreamNotFound(std::string_view name) const;
  const BrokerOptions& options() const { return opts_; }
  // Bumped after every change to the set of streams or a stream's shards (create, delete,
  // resharding): a cache of GetStream snapshots is current while this is unchanged.
  uint64_t metadata_version() const { return version_.load(std::memory_order_acquire); }

  // At most `limit` (1..kMaxGetRecordsLimit, default the maximum) records and about
  // kMaxGetRecordsBytes of data + keys. Invalid and expired tokens fail with the codec's
  // statuses unchanged; a token of a deleted (or deleted and recreated) stream is NotFound.
  Result<GetRecordsResult> GetRecords(std::string_view token,
                                      std::optional<size_t> limit = std::nullopt);

  // --- Maintenance -----------------------------------------------------------------------
  // Applies each stream's retention (hours) to its shard logs. Visits every shard; returns
  // the first error.
  Status EnforceRetention();
  // Closes every shard log; later calls fail with Aborted. Idempotent; returns the first error.
  Status Close();

 private:
  Broker(log::io::FileSystem* fs, std::string dir, BrokerOptions options,
         std::unique_ptr<MetadataStore> store);

  std::string ShardDir(StreamId stream, ShardId shard) const;
  std::string StreamDir(StreamId stream) const;
  Result<std::shared_ptr<Shard>> OpenShard(const StreamMetadata& meta, const ShardMetadata& s);
  Result<std::shared_ptr<const Stream>> OpenStream(const StreamMetadata& meta);
  Status RemoveOrphans() REQUIRES(mu_);
  // The current snapshot of `name`; NotFound (Kinesis text) or Aborted when closed.
  Result<std::shared_ptr<const Stream>> FindStream(std::string_view name) const EXCLUDES(mu_);
  // Publishes `next`, the metadata of `current` after a resharding that closes the open shards
  // `sealed` and adds shards (any shard of `next` that `current` lacks; closed ones are
  // intermediate and empty): opens the new logs, seals the parents and records their ending
  // offsets, persists `next`, then publishes a new Stream. On failure `current` keeps serving
  // (sealed parents are reopened).
  Status CommitReshard(const std::shared_ptr<const Stream>& current, StreamMetadata next,
                       const std::vector<ShardId>& sealed) REQUIRES(mu_);
  // The stream for a resharding call: name validated, broker open, stream present.
  Result<std::shared_ptr<const Stream>> FindStreamLocked(std::string_view name) const REQUIRES(mu_);
  // After an append on a shard of `used` failed with `append_error`: the newer snapshot to
  // route on again when the error is Aborted and a resharding replaced `used` (the shard was
  // sealed); otherwise `append_error` (or FindStream's error: closed, deleted).
  Result<std::shared_ptr<const Stream>> Refreshed(const std::shared_ptr<const Stream>& used,
                                                  const Status& append_error) const;
  // Validates one record's key, data and explicit hash key and picks its shard.
  Result<Shard*> RouteRecord(const Stream& stream, std::string_view partition_key,
                             std::string_view data,
                             std::optional<std::string_view> explicit_hash_key) const;
  void Log(std::string_view line) const;

  log::io::FileSystem* const fs_;
  const std::string dir_;
  const BrokerOptions opts_;
  const IteratorCodec codec_;

  mutable Mutex mu_;
  const std::unique_ptr<MetadataStore> store_ PT_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<const Stream>, std::less<>> streams_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> version_{0};
};

}  // namespace sluice::broker
