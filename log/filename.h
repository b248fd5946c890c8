// SPDX-License-Identifier: Apache-2.0
// Every on-disk name of a shard log, built and parsed in one place:
//   <dir>/<base:020>.log     segment
//   <dir>/<base:020>.index   its index
//   <path>.tmp               a file being written before an atomic rename
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "log/base/types.h"

namespace sluice::log {

enum class FileType { kSegment, kIndex, kTemp };

struct ParsedFileName {
  FileType type;
  SegmentId base;  // For kTemp, the base of the file it will replace.
};

std::string SegmentFileName(const std::string& dir, SegmentId base);
std::string IndexFileName(const std::string& dir, SegmentId base);
std::string TempFileName(const std::string& path);
// Parses a directory entry name (not a path). nullopt for names that are not ours.
std::optional<ParsedFileName> ParseFileName(std::string_view name);

}  // namespace sluice::log
