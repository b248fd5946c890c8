// SPDX-License-Identifier: Apache-2.0
// Result<T>: a value or an error Status (our stand-in for std::expected), plus the
// SLUICE_TRY / SLUICE_ASSIGN_OR_RETURN propagation macros.
#pragma once

#include <utility>
#include <variant>

#include "log/base/check.h"
#include "log/base/status.h"

namespace sluice {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    SLUICE_CHECK(!std::get<Status>(v_).ok(), "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error; OK when a value is held.
  Status status() const { return ok() ? Status::OK() : std::get<Status>(v_); }

  T& value() & {
    SLUICE_CHECK(ok(), "value() on an error Result");
    return std::get<T>(v_);
  }
  const T& value() const& {
    SLUICE_CHECK(ok(), "value() on an error Result");
    return std::get<T>(v_);
  }
  T&& value() && {
    SLUICE_CHECK(ok(), "value() on an error Result");
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

namespace internal {
inline Status AsStatus(Status s) { return s; }
template <typename T>
Status AsStatus(const Result<T>& r) {
  return r.status();
}
}  // namespace internal

}  // namespace sluice

#define SLUICE_CONCAT_INNER(a, b) a##b
#define SLUICE_CONCAT(a, b) SLUICE_CONCAT_INNER(a, b)

// Returns the error from a Status- or Result-valued expression.
#define SLUICE_TRY(expr)                                                     \
  do {                                                                       \
    auto&& sluice_try_ = (expr);                                             \
    if (!sluice_try_.ok()) return ::sluice::internal::AsStatus(sluice_try_); \
  } while (0)

#define SLUICE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

// `SLUICE_ASSIGN_OR_RETURN(auto x, F());` declares x from F()'s value or returns its error.
#define SLUICE_ASSIGN_OR_RETURN(lhs, expr) \
  SLUICE_ASSIGN_OR_RETURN_IMPL(SLUICE_CONCAT(sluice_result_, __LINE__), lhs, expr)
