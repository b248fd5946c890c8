// SPDX-License-Identifier: Apache-2.0
// Status: the result of an operation that returns no value. Errors are values, never exceptions.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace sluice {

// An OK status allocates nothing; an error carries a code and a message.
// Thread-compatible: distinct objects may be used from distinct threads.
class [[nodiscard]] Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kNotFound,
    kCorruption,  // Stored bytes fail validation (checksum, magic, bounds).
    kTruncated,   // Bytes end early: a torn tail. Recovery truncates; a reader stops.
    kIOError,
    kNoSpace,  // ENOSPC: retriable once space returns.
    kInvalidArgument,
    kUnavailable,
    kAborted,
    kNotSupported,
  };

  Status() noexcept = default;
  Status(const Status& other) : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg) { return Status(Code::kNotFound, msg); }
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg); }
  static Status Truncated(std::string_view msg) { return Status(Code::kTruncated, msg); }
  static Status IOError(std::string_view msg) { return Status(Code::kIOError, msg); }
  static Status NoSpace(std::string_view msg) { return Status(Code::kNoSpace, msg); }
  static Status InvalidArgument(std::string_view msg) {
    return Status(Code::kInvalidArgument, msg);
  }
  static Status Unavailable(std::string_view msg) { return Status(Code::kUnavailable, msg); }
  static Status Aborted(std::string_view msg) { return Status(Code::kAborted, msg); }
  static Status NotSupported(std::string_view msg) { return Status(Code::kNotSupported, msg); }
  // Maps an errno value from a failed system call; ENOSPC becomes kNoSpace.
  static Status FromErrno(int err, std::string_view context);

  bool ok() const { return rep_ == nullptr; }
  Code code() const { return rep_ ? rep_->code : Code::kOk; }
  bool IsNotFound() const { return code() == Code::kNotFound; }
  bool IsCorruption() const { return code() == Code::kCorruption; }
  bool IsTruncated() const { return code() == Code::kTruncated; }
  bool IsIOError() const { return code() == Code::kIOError; }
  bool IsNoSpace() const { return code() == Code::kNoSpace; }
  bool IsInvalidArgument() const { return code() == Code::kInvalidArgument; }
  // The message without the code name; empty for OK.
  std::string_view message() const { return rep_ ? std::string_view(rep_->msg) : ""; }
  // "OK" or "<Code>: <message>".
  std::string ToString() const;
  // Prefixes the message with context ("open 00000.log: ..."); OK stays OK.
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) { return a.code() == b.code(); }

 private:
  struct Rep {
    Code code;
    std::string msg;
  };
  Status(Code code, std::string_view msg)
      : rep_(std::make_unique<Rep>(Rep{code, std::string(msg)})) {}

  std::unique_ptr<Rep> rep_;
};

std::string_view CodeName(Status::Code code);

}  // namespace sluice
