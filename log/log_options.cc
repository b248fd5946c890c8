// SPDX-License-Identifier: Apache-2.0
#include "log/log_options.h"

#include <charconv>

namespace sluice::log {

Result<Durability> Durability::Parse(std::string_view text) {
  if (text == "always") return Always();
  if (text == "never") return Never();
  constexpr std::string_view kInterval = "interval:";
  if (text.starts_with(kInterval)) {
    std::string_view num = text.substr(kInterval.size());
    int64_t ms = 0;
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), ms);
    if (ec == std::errc() && p == num.data() + num.size() && ms >= 1) return Interval(ms);
  }
  return Status::InvalidArgument("durability must be always, never or interval:<ms>, got '" +
                                 std::string(text) + "'");
}

std::string Durability::ToString() const {
  switch (mode) {
    case Mode::kAlways:
      return "always";
    case Mode::kNever:
      return "never";
    case Mode::kInterval:
      return "interval:" + std::to_string(interval_ms);
  }
  return "?";
}

}  // namespace sluice::log
