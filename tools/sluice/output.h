// SPDX-License-Identifier: Apache-2.0
// Output helpers of the sluice CLI: JSON text, escaping for readable lines, and a progress
// line on stderr.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::tools {

// `s` as a JSON string literal (quotes included). Invalid UTF-8 bytes become U+FFFD.
std::string JsonString(std::string_view s);
bool IsValidUtf8(std::string_view s);
std::string Base64(std::string_view bytes);
// `"data":"..."` when `data` is valid UTF-8, else `"data_base64":"..."`.
std::string JsonData(std::string_view data);
// One line for humans: printable ASCII and UTF-8 kept, \n \t \\ and other bytes escaped.
std::string Printable(std::string_view s);

// A progress line redrawn on stderr at most ten times a second, only when stderr is a terminal
// and `wanted` (callers pass false when records stream to the same terminal on stdout).
// `total_bytes` 0 means unknown (no bar, just counts). Not thread-safe.
class Progress {
 public:
  Progress(std::string noun, uint64_t total_bytes, bool wanted = true);
  ~Progress();  // Finish()es.
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void Update(uint64_t items, uint64_t bytes);
  // Draws the final state and ends the line.
  void Finish();
  bool enabled() const { return enabled_; }

 private:
  void Draw();

  const std::string noun_;
  const uint64_t total_bytes_;
  const bool enabled_;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  uint64_t items_ = 0;
  uint64_t bytes_ = 0;
  bool drawn_ = false;
  bool finished_ = false;
};

}  // namespace sluice::tools
