// SPDX-License-Identifier: Apache-2.0
// THE on-disk format of a shard log: segment header, record batch header, record encoding and
// index file. Writer, reader, recovery and tools all use these definitions and nothing else.
// See FORMAT.md beside this file for the prose, the rationale and the evolution rules.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::log::format {

// All integers are little-endian. Checksums are XXH3-64 (log/base/checksum.h).

// ---------------------------------------------------------------------------------------------
// Segment file `<base_offset:020>.log`
//
//   +--------------------------- kSegmentHeaderSize (4096) ----------------------------+
//   | magic u64 | version u16 | flags u16 | header_size u32 | base_offset u64 |         |
//   | created_ms i64 | checksum u64 (over the 32 bytes before it) | zero padding ...     |
//   +-----------------------------------------------------------------------------------+
//   | batch | batch | ... | zero bytes (preallocated, or O_DIRECT page padding) ...       |
//
// The header is padded to one page so that batches start page-aligned for O_DIRECT. A batch
// whose length field reads zero marks the end of the data.
// ---------------------------------------------------------------------------------------------
constexpr uint64_t kSegmentMagic = 0x4745534349554C53ULL;  // "SLUICSEG" read as bytes
constexpr uint16_t kSegmentVersion = 1;
constexpr size_t kSegmentHeaderSize = 4096;

constexpr size_t kSegMagicOffset = 0;        // u64
constexpr size_t kSegVersionOffset = 8;      // u16
constexpr size_t kSegFlagsOffset = 10;       // u16, reserved, written as 0
constexpr size_t kSegHeaderSizeOffset = 12;  // u32, == kSegmentHeaderSize
constexpr size_t kSegBaseOffsetOffset = 16;  // u64, sequence number of the first record
constexpr size_t kSegCreatedMsOffset = 24;   // i64, wall clock when the segment was created
constexpr size_t kSegChecksumOffset = 32;    // u64, XXH3-64 of bytes [0, 32)
constexpr size_t kSegmentHeaderUsed = kSegChecksumOffset + 8;
static_assert(kSegmentHeaderUsed <= kSegmentHeaderSize);

// Largest segment file: batch positions are stored as u32 in the index.
constexpr uint64_t kMaxSegmentBytes = (1ULL << 32) - 1;

// ---------------------------------------------------------------------------------------------
// Record batch: the unit of writing, replication and network transfer (the same bytes
// everywhere).
//
//    0        8       12  13  14      16              24              32              40
//    +--------+-------+---+---+-------+---------------+---------------+---------------+
//    |hdr_csum|length |mag|typ| attrs | base_offset   | first_ts_ms   | max_ts_ms     |
//    +--------+-------+---+---+-------+---------------+---------------+---------------+
//    40              48              56              64      68      72              80
//    +---------------+---------------+---------------+-------+-------+---------------+---
//    | leader_epoch  | producer_id   | producer_seq  | count | rsize | records_csum  | ...
//    +---------------+---------------+---------------+-------+-------+---------------+---
//
// Two checksums: records_csum covers the stored records section, hdr_csum covers the rest of
// the header (records_csum included). The log rewrites base offset, epoch and timestamps when
// it appends, so only the 72-byte header hash is recomputed there, never a pass over the data.
// ---------------------------------------------------------------------------------------------
constexpr size_t kBatchChecksumOffset = 0;          // u64  XXH3-64 of header bytes [8, 80)
constexpr size_t kBatchLengthOffset = 8;            // u32  whole batch in bytes, header included
constexpr size_t kBatchMagicOffset = 12;            // u8   kBatchMagic
constexpr size_t kBatchTypeOffset = 13;             // u8   BatchType; bit 7 = safe to ignore
constexpr size_t kBatchAttributesOffset = 14;       // u16  see kAttr* below
constexpr size_t kBatchBaseOffsetOffset = 16;       // u64  sequence number of the first record
constexpr size_t kBatchFirstTimestampOffset = 24;   // i64  ms; record timestamps are deltas
constexpr size_t kBatchMaxTimestampOffset = 32;     // i64  ms; largest record timestamp
constexpr size_t kBatchLeaderEpochOffset = 40;      // u64  epoch of the leader that appended it
constexpr size_t kBatchProducerIdOffset = 48;       // u64  0 = no idempotent producer
constexpr size_t kBatchProducerSeqOffset = 56;      // u64  producer's per-shard batch sequence
constexpr size_t kBatchRecordCountOffset = 64;      // u32  >= 1
constexpr size_t kBatchRecordsSizeOffset = 68;      // u32  records section size, uncompressed
constexpr size_t kBatchRecordsChecksumOffset = 72;  // u64  XXH3-64 of bytes [80, length)
constexpr size_t kBatchHeaderSize = 80;
static_assert(kBatchRecordsChecksumOffset + 8 == kBatchHeaderSize);
// The header checksum covers the header after itself: [kBatchChecksummedFrom, kBatchHeaderSize).
constexpr size_t kBatchChecksummedFrom = kBatchLengthOffset;

// Bumped only for an incompatible header layout; readers reject other values as corruption.
constexpr uint8_t kBatchMagic = 0xB1;

// Batch types. A reader that meets an unknown type skips the batch when kTypeIgnoreIfUnknown is
// set, and fails with NotSupported when it is not (RocksDB's kRecordTypeSafeIgnoreMask rule).
enum class BatchType : uint8_t { kData = 1 };
constexpr uint8_t kTypeIgnoreIfUnknown = 0x80;

// Attributes (u16). Bits 0-2: compression codec of the records section. Bit 3: append-time
// stamped: every record's timestamp is first_ts_ms (== max_ts_ms), whatever its delta says.
// Bits 4-7: reserved, must be zero; a reader that meets one set fails with NotSupported (it
// cannot decode safely). Bits 8-15: safe to ignore if unknown (hints that do not change how
// records decode).
constexpr uint16_t kAttrCodecMask = 0x0007;
constexpr uint16_t kAttrLogAppendTime = 0x0008;
constexpr uint16_t kAttrMustUnderstandMask = 0x00FF;
enum class Codec : uint8_t { kNone = 0, kZstd = 1 };

// Bounds. A length outside [kBatchHeaderSize + 1, kMaxBatchBytes] is corruption.
constexpr uint32_t kMaxBatchBytes = 64u << 20;
constexpr uint32_t kMaxRecordsPerBatch = 1u << 20;

// ---------------------------------------------------------------------------------------------
// Record (inside the records section, after decompression), all varints:
//   length        varint   bytes of the rest of this record
//   offset_delta  varint   sequence number - base_offset (0, 1, 2, ... in order)
//   ts_delta      zigzag   timestamp - first_ts_ms
//   key_len key   varint + bytes   partition key
//   value_len val varint + bytes   data
//   header_count  varint, then header_count × (key_len key value_len value)
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Index file `<base_offset:020>.index`: written when a segment is sealed (and on clean close
// of the active one); rebuilt from the segment when missing or damaged.
//
//   header (kIndexHeaderSize = 64):
//     magic u64 | version u16 | flags u16 | entry_size u32 | base_offset u64 |
//     segment_bytes u64 (segment data end this index describes) | next_offset u64 |
//     max_timestamp i64 | entry_count u32 | reserved u32 | checksum u64 (entries, then [0,56))
//   entries (kIndexEntrySize = 16 each), one per kIndexIntervalBytes of segment data:
//     relative_offset u32 | position u32 | max_timestamp_so_far i64
// ---------------------------------------------------------------------------------------------
constexpr uint64_t kIndexMagic = 0x3158444E49554C53ULL;  // "SLUINDX1" read as bytes
constexpr uint16_t kIndexVersion = 1;
constexpr size_t kIdxMagicOffset = 0;          // u64
constexpr size_t kIdxVersionOffset = 8;        // u16
constexpr size_t kIdxFlagsOffset = 10;         // u16, bit 0 = clean (segment was synced)
constexpr size_t kIdxEntrySizeOffset = 12;     // u32, == kIndexEntrySize
constexpr size_t kIdxBaseOffsetOffset = 16;    // u64
constexpr size_t kIdxSegmentBytesOffset = 24;  // u64
constexpr size_t kIdxNextOffsetOffset = 32;    // u64, one past the last record in the segment
constexpr size_t kIdxMaxTimestampOffset = 40;  // i64
constexpr size_t kIdxEntryCountOffset = 48;    // u32
constexpr size_t kIdxReservedOffset = 52;      // u32
constexpr size_t kIdxChecksumOffset = 56;      // u64
constexpr size_t kIndexHeaderSize = 64;

constexpr size_t kIdxEntryRelOffsetOffset = 0;  // u32, base_offset of a batch - segment base
constexpr size_t kIdxEntryPositionOffset = 4;   // u32, file position of that batch
constexpr size_t kIdxEntryTimestampOffset = 8;  // i64, max timestamp of batches up to it
constexpr size_t kIndexEntrySize = 16;

// One index entry per this many bytes of segment data (the first batch always has one).
constexpr uint32_t kIndexIntervalBytes = 4096;

}  // namespace sluice::log::format
