// SPDX-License-Identifier: Apache-2.0
#include "log/filename.h"

#include <charconv>
#include <cstdio>

namespace sluice::log {
namespace {
constexpr size_t kDigits = 20;

std::string Numbered(const std::string& dir, SegmentId base, const char* suffix) {
  char buf[kDigits + 16];
  std::snprintf(buf, sizeof(buf), "/%020llu%s", static_cast<unsigned long long>(base.value()),
                suffix);
  return dir + buf;
}
}  // namespace

std::string SegmentFileName(const std::string& dir, SegmentId base) {
  return Numbered(dir, base, ".log");
}
std::string IndexFileName(const std::string& dir, SegmentId base) {
  return Numbered(dir, base, ".index");
}
std::string TempFileName(const std::string& path) { return path + ".tmp"; }

std::optional<ParsedFileName> ParseFileName(std::string_view name) {
  // A temp file is one of our names plus ".tmp"; other *.tmp files are not ours.
  constexpr std::string_view kTmp = ".tmp";
  if (name.ends_with(kTmp)) {
    auto inner = ParseFileName(name.substr(0, name.size() - kTmp.size()));
    if (!inner || inner->type == FileType::kTemp) return std::nullopt;
    return ParsedFileName{FileType::kTemp, inner->base};
  }
  FileType type;
  std::string_view suffix;
  if (name.ends_with(".log")) {
    type = FileType::kSegment;
    suffix = ".log";
  } else if (name.ends_with(".index")) {
    type = FileType::kIndex;
    suffix = ".index";
  } else {
    return std::nullopt;
  }
  std::string_view digits = name.substr(0, name.size() - suffix.size());
  if (digits.size() != kDigits) return std::nullopt;
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  return ParsedFileName{type, SegmentId(v)};
}

}  // namespace sluice::log
