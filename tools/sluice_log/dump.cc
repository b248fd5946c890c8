// SPDX-License-Identifier: Apache-2.0
// sluice-log dump: prints a segment's header and batches (optionally records) or an index.
#include <cstdio>
#include <string>

#include "log/filename.h"
#include "log/index.h"
#include "log/io/file.h"
#include "log/segment.h"
#include "log/segment_header.h"
#include "log/segment_reader.h"
#include "tools/sluice_log/commands.h"

namespace sluice::tools {
namespace {

using log::format::kSegmentHeaderSize;

std::string Printable(std::string_view s, size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) out += (c >= 32 && c < 127) ? c : '.';
  if (s.size() > max) out += "...";
  return out;
}

int DumpIndex(log::io::FileSystem* fs, const std::string& path, SegmentId base) {
  bool clean = false;
  auto index = log::ReadIndexFile(fs, path, base, &clean);
  if (!index.ok())
    return std::printf("%s: %s\n", path.c_str(), index.status().ToString().c_str()), 1;
  std::printf("index %s base=%llu next=%llu data_end=%llu max_ts=%lld entries=%zu clean=%d\n",
              path.c_str(), (unsigned long long)base.value(),
              (unsigned long long)index->next_offset().value(),
              (unsigned long long)index->data_end(), (long long)index->max_timestamp(),
              index->entries().size(), clean ? 1 : 0);
  for (const log::IndexEntry& e : index->entries()) {
    std::printf("  offset=%llu position=%u max_ts=%lld\n",
                (unsigned long long)(base.value() + e.relative_offset), e.position,
                (long long)e.max_timestamp);
  }
  return 0;
}

}  // namespace

int Dump(const DumpOptions& opts) {
  auto fs = log::io::MakeFileSystem(log::io::Backend::kPosix);
  if (!fs.ok()) return std::printf("error: %s\n", fs.status().ToString().c_str()), 2;
  std::string name = opts.path.substr(opts.path.rfind('/') + 1);
  auto parsed = log::ParseFileName(name);
  if (!parsed || parsed->type == log::FileType::kTemp) {
    std::printf("error: %s is not named like a segment or index file\n", opts.path.c_str());
    return 2;
  }
  if (parsed->type == log::FileType::kIndex) return DumpIndex(fs->get(), opts.path, parsed->base);

  auto file = (*fs)->Open(opts.path, log::io::OpenOptions{.read_only = true});
  if (!file.ok()) return std::printf("error: %s\n", file.status().ToString().c_str()), 2;
  auto size = (*file)->Size();
  std::string header(kSegmentHeaderSize, '\0');
  auto hspan = std::span<std::byte>(reinterpret_cast<std::byte*>(header.data()), header.size());
  auto n = (*file)->ReadAt(0, hspan);
  auto h = log::DecodeSegmentHeader(hspan.first(n.ok() ? *n : 0));
  if (h.ok()) {
    std::printf("segment %s base=%llu created_ms=%lld file_bytes=%llu\n", opts.path.c_str(),
                (unsigned long long)h->base.value(), (long long)h->created_ms,
                (unsigned long long)(size.ok() ? *size : 0));
  } else {
    std::printf("segment %s: header: %s\n", opts.path.c_str(), h.status().ToString().c_str());
  }
  log::SegmentReader reader(file->get(), kSegmentHeaderSize, size.ok() ? *size : 0);
  std::string scratch;
  int rc = h.ok() ? 0 : 1;
  for (;;) {
    uint64_t pos = reader.position();
    auto batch = reader.Next();
    if (!batch.ok()) {
      std::printf("@%llu error: %s\n", (unsigned long long)pos, batch.status().ToString().c_str());
      return 1;
    }
    if (!batch->has_value()) break;
    const log::BatchHeader& b = (*batch)->header();
    std::printf(
        "@%llu batch offsets=[%llu,%llu] count=%u bytes=%u codec=%d first_ts=%lld "
        "max_ts=%lld epoch=%llu producer=%llu/%llu crc=%016llx\n",
        (unsigned long long)pos, (unsigned long long)b.base_offset.value(),
        (unsigned long long)b.last_offset().value(), b.record_count, b.length,
        static_cast<int>(b.codec()), (long long)b.first_timestamp, (long long)b.max_timestamp,
        (unsigned long long)b.leader_epoch.value(), (unsigned long long)b.producer_id.value(),
        (unsigned long long)b.producer_seq, (unsigned long long)b.checksum);
    if (!opts.records) continue;
    auto records = (*batch)->DecodeRecords(&scratch);
    if (!records.ok()) {
      std::printf("  error: %s\n", records.status().ToString().c_str());
      rc = 1;
      continue;
    }
    for (const log::Record& r : *records) {
      std::printf("  %llu ts=%lld key=%s value=%s headers=%zu\n",
                  (unsigned long long)r.offset.value(), (long long)r.timestamp,
                  Printable(r.key, opts.max_value).c_str(),
                  Printable(r.value, opts.max_value).c_str(), r.headers.size());
    }
  }
  std::printf("end of data at %llu\n", (unsigned long long)reader.position());
  return rc;
}

}  // namespace sluice::tools
