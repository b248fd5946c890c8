// SPDX-License-Identifier: Apache-2.0
// sluice-log verify: scans every segment of a shard log with the recovery scanner, checks each
// index against its segment and sequence-number continuity across segments.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "log/filename.h"
#include "log/index.h"
#include "log/io/file.h"
#include "log/recovery.h"
#include "log/segment.h"
#include "tools/sluice_log/commands.h"

namespace sluice::tools {
namespace {

// Compares a stored index with the one rebuilt from its segment; "" when they agree.
std::string CheckIndex(log::io::FileSystem* fs, const std::string& path, SegmentId base,
                       const log::Index& rebuilt) {
  bool clean = false;
  auto index = log::ReadIndexFile(fs, path, base, &clean);
  if (!index.ok()) return index.status().ToString();
  if (index->next_offset() != rebuilt.next_offset() || index->data_end() != rebuilt.data_end()) {
    return "index says next=" + std::to_string(index->next_offset().value()) +
           " end=" + std::to_string(index->data_end()) +
           " but the segment has next=" + std::to_string(rebuilt.next_offset().value()) +
           " end=" + std::to_string(rebuilt.data_end());
  }
  return "";
}

}  // namespace

int Verify(const VerifyOptions& opts) {
  auto fs = log::io::MakeFileSystem(log::io::Backend::kPosix);
  if (!fs.ok()) return std::printf("error: %s\n", fs.status().ToString().c_str()), 2;
  auto names = (*fs)->ListDir(opts.dir);
  if (!names.ok()) return std::printf("error: %s\n", names.status().ToString().c_str()), 2;
  std::vector<SegmentId> segments;
  std::vector<SegmentId> indexes;
  for (const std::string& name : *names) {
    auto p = log::ParseFileName(name);
    if (p && p->type == log::FileType::kSegment) segments.push_back(p->base);
    if (p && p->type == log::FileType::kIndex) indexes.push_back(p->base);
  }
  std::sort(segments.begin(), segments.end());
  int problems = 0;
  uint64_t batches_bytes = 0, records = 0;
  auto problem = [&](const std::string& what) {
    std::printf("PROBLEM %s\n", what.c_str());
    ++problems;
  };
  for (size_t i = 0; i < segments.size(); ++i) {
    std::string path = log::SegmentFileName(opts.dir, segments[i]);
    auto file = (*fs)->Open(path, log::io::OpenOptions{.read_only = true});
    if (!file.ok()) {
      problem(path + ": " + file.status().ToString());
      continue;
    }
    auto scan = log::ScanSegment(**file, segments[i], path);
    if (!scan.ok()) {
      problem(path + ": " + scan.status().ToString());
      continue;
    }
    if (scan->header_damaged) problem(path + ": segment header damaged");
    for (const log::DamagedRange& d : scan->damaged) {
      problem(path + ":" + std::to_string(d.position) + ": " + std::to_string(d.bytes) +
              " corrupt bytes holding records [" + std::to_string(d.first.value()) + ", " +
              std::to_string(d.end.value()) + "): " + d.reason);
    }
    bool last = i + 1 == segments.size();
    if (!scan->stop.ok()) {
      problem(path + ":" + std::to_string(scan->valid_end) + ": " +
              (last ? "torn tail (recovery will drop it): " : "") + scan->stop.ToString());
    }
    if (!last && scan->index.next_offset() != SequenceNumber(segments[i + 1].value())) {
      problem(path + ": ends at record " + std::to_string(scan->index.next_offset().value()) +
              " but the next segment starts at " + std::to_string(segments[i + 1].value()));
    }
    if (std::find(indexes.begin(), indexes.end(), segments[i]) != indexes.end()) {
      std::string why = CheckIndex(fs->get(), log::IndexFileName(opts.dir, segments[i]),
                                   segments[i], scan->index);
      if (!why.empty()) problem(log::IndexFileName(opts.dir, segments[i]) + ": " + why);
    }
    batches_bytes += scan->valid_end;
    records += scan->index.next_offset().value() - segments[i].value();
    if (!opts.quiet) {
      std::printf("ok %s records [%llu, %llu) bytes %llu\n", path.c_str(),
                  (unsigned long long)segments[i].value(),
                  (unsigned long long)scan->index.next_offset().value(),
                  (unsigned long long)scan->valid_end);
    }
  }
  std::printf("%zu segment(s), %llu record(s), %llu byte(s), %d problem(s)\n", segments.size(),
              (unsigned long long)records, (unsigned long long)batches_bytes, problems);
  return problems == 0 ? 0 : 1;
}

}  // namespace sluice::tools
