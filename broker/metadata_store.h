// SPDX-License-Identifier: Apache-2.0
// MetadataStore: every stream's StreamMetadata, persisted in one file written atomically
// (temp file, Sync, Rename over the old one, SyncDir) through log::io::FileSystem.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "broker/stream_metadata.h"
#include "log/base/result.h"
#include "log/io/file.h"

namespace sluice::broker {

// On-disk names, relative to the store's directory. Stream names never become paths.
inline constexpr std::string_view kMetadataFileName = "streams.meta";
inline constexpr std::string_view kMetadataTempFileName = "streams.meta.tmp";

// The file is one frame (stream_metadata.h) with magic "SLMD", version 1, and payload
//   next_stream_id(u64) count(varint) count x (length(varint) + stream image)
// where each stream image is EncodeStreamMetadata's own checksummed frame.
inline constexpr uint32_t kStoreImageMagic = 0x444D4C53;  // "SLMD" in file byte order.
inline constexpr uint16_t kStoreImageVersion = 1;

// Why one file for all streams rather than one per stream: a control-plane change (rare:
// Kinesis allows ~5/s) rewrites a few kilobytes, one rename makes every change atomic (no
// half-created set of files, no orphan cleanup), and stream ids, which must never be reused,
// persist in the same image as the streams. Stream names of up to 128 characters would not fit
// a file name once hex-encoded anyway.
//
// Durability: a mutation returns OK only once the new image is durable (file synced, rename
// synced in the directory); a crash at any point leaves the old image or the new one, never a
// mix. A mutation that fails before the rename changes nothing, in memory or on disk. If the
// directory sync after the rename fails, the outcome on disk is unknown: the store then refuses
// every later mutation with that error, and must be reopened.
//
// Not thread-safe; callers serialize (the broker's control plane owns the store).
class MetadataStore {
 public:
  using StreamMap = std::map<std::string, StreamMetadata, std::less<>>;

  // Creates `dir` if missing and loads its metadata file when present. A leftover temp file
  // (a crash mid-write) is removed: it never was the authoritative state. A damaged metadata
  // file fails Open with Corruption naming the file, which is left untouched for inspection.
  // `*fs` must outlive the store.
  static Result<std::unique_ptr<MetadataStore>> Open(log::io::FileSystem* fs, std::string dir);

  MetadataStore(const MetadataStore&) = delete;
  MetadataStore& operator=(const MetadataStore&) = delete;

  // All streams by name. References stay valid until the next successful mutation.
  const StreamMap& streams() const { return streams_; }
  // nullptr when absent; valid until the next successful mutation.
  const StreamMetadata* Find(std::string_view name) const;

  // Stores `meta` under a fresh StreamId (ignoring meta.id) and returns it. Ids are never
  // reused, even across deletions and reopening. InvalidArgument when the name exists.
  Result<StreamId> Create(StreamMetadata meta);
  // Replaces the stream named meta.name. NotFound when absent; InvalidArgument when meta.id
  // is not the stored stream's id (a stale copy of a deleted and re-created stream).
  Status Update(const StreamMetadata& meta);
  // NotFound when absent.
  Status Delete(std::string_view name);

  const std::string& path() const { return path_; }

 private:
  MetadataStore(log::io::FileSystem* fs, std::string dir);
  Status Load();
  // Makes (streams, next_id) the durable state, then the in-memory one.
  Status Commit(StreamMap streams, StreamId next_id);

  log::io::FileSystem* const fs_;
  const std::string dir_;
  const std::string path_;
  const std::string temp_path_;
  StreamMap streams_;
  StreamId next_id_{1};
  Status sticky_error_;  // Set when a failed write left the disk state unknown.
};

}  // namespace sluice::broker
