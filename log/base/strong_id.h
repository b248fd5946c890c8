// SPDX-License-Identifier: Apache-2.0
// StrongId<Tag, Rep>: a number that cannot be mixed up with another kind of number.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>

namespace sluice {

template <typename Tag, typename Rep = uint64_t>
class StrongId {
 public:
  using rep_type = Rep;
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep v) : v_(v) {}
  constexpr Rep value() const { return v_; }
  constexpr auto operator<=>(const StrongId&) const = default;
  constexpr StrongId Next() const { return StrongId(v_ + 1); }

  friend std::ostream& operator<<(std::ostream& os, StrongId id) { return os << id.v_; }

 private:
  Rep v_{};
};

}  // namespace sluice

template <typename Tag, typename Rep>
struct std::hash<sluice::StrongId<Tag, Rep>> {
  size_t operator()(sluice::StrongId<Tag, Rep> id) const noexcept {
    return std::hash<Rep>()(id.value());
  }
};
