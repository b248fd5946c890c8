// SPDX-License-Identifier: Apache-2.0
#include "broker/stream_name.h"

#include <string>
#include <vector>

namespace sluice::broker {
namespace {

constexpr std::string_view kArnPattern = "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+";

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsLowerAlnumOrDash(char c) { return (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-'; }

// "Value '<v>' at '<member>' failed to satisfy constraint: <constraint>", as Kinesis words it.
std::string ConstraintError(std::string_view value, std::string_view member,
                            std::string_view constraint) {
  std::string out = "Value '";
  out.append(value).append("' at '").append(member);
  out.append("' failed to satisfy constraint: ").append(constraint);
  return out;
}

// "N validation error(s) detected: e1; e2".
Status ValidationErrors(const std::vector<std::string>& errors) {
  std::string msg = std::to_string(errors.size());
  msg += errors.size() == 1 ? " validation error detected: " : " validation errors detected: ";
  for (size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) msg += "; ";
    msg += errors[i];
  }
  return Status::InvalidArgument(msg);
}

Status MalformedArn(std::string_view arn) {
  std::string constraint = "Member must satisfy regular expression pattern: ";
  constraint.append(kArnPattern);
  return ValidationErrors({ConstraintError(arn, "streamARN", constraint)});
}

// Consumes `prefix` from the front of `*s`; false (and `*s` unchanged) when absent.
bool ConsumePrefix(std::string_view* s, std::string_view prefix) {
  if (!s->starts_with(prefix)) return false;
  s->remove_prefix(prefix.size());
  return true;
}

// Splits off the text before the next ':' and consumes the ':'; false if there is none.
bool ConsumeField(std::string_view* s, std::string_view* field) {
  const size_t colon = s->find(':');
  if (colon == std::string_view::npos) return false;
  *field = s->substr(0, colon);
  s->remove_prefix(colon + 1);
  return true;
}

bool ValidPartition(std::string_view p) {
  if (p == "aws") return true;
  if (!p.starts_with("aws-") || p.size() == 4) return false;
  for (char c : p.substr(4)) {
    if (!IsLowerAlnumOrDash(c)) return false;
  }
  return true;
}

bool ValidRegion(std::string_view r) {
  if (r.empty()) return false;
  for (char c : r) {
    if (!IsLowerAlnumOrDash(c)) return false;
  }
  return true;
}

bool ValidAccount(std::string_view a) {
  if (a.size() != 12) return false;
  for (char c : a) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

}  // namespace

Status ValidateStreamName(std::string_view name) {
  // Kinesis checks the pattern first, then the length bounds; all failures are reported.
  std::vector<std::string> errors;
  bool pattern_ok = !name.empty();
  for (char c : name) pattern_ok = pattern_ok && IsNameChar(c);
  if (!pattern_ok) {
    errors.push_back(ConstraintError(
        name, "streamName", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"));
  }
  if (name.empty()) {
    errors.push_back(
        ConstraintError(name, "streamName", "Member must have length greater than or equal to 1"));
  }
  if (name.size() > kMaxStreamNameLength) {
    errors.push_back(
        ConstraintError(name, "streamName", "Member must have length less than or equal to 128"));
  }
  if (errors.empty()) return Status::OK();
  return ValidationErrors(errors);
}

std::string StreamArn(std::string_view region, std::string_view account, std::string_view name) {
  std::string arn = "arn:aws:kinesis:";
  arn.append(region).append(":").append(account).append(":stream/").append(name);
  return arn;
}

Result<std::string> ParseStreamArn(std::string_view arn) {
  std::string_view rest = arn;
  std::string_view partition, region, account;
  if (!ConsumePrefix(&rest, "arn:") || !ConsumeField(&rest, &partition) ||
      !ValidPartition(partition) || !ConsumePrefix(&rest, "kinesis:") ||
      !ConsumeField(&rest, &region) || !ValidRegion(region) || !ConsumeField(&rest, &account) ||
      !ValidAccount(account) || !ConsumePrefix(&rest, "stream/") || rest.empty()) {
    return MalformedArn(arn);
  }
  for (char c : rest) {
    // \S+ in Kinesis's pattern: whitespace anywhere in the resource part is malformed.
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      return MalformedArn(arn);
    }
  }
  if (!ValidateStreamName(rest).ok()) {
    std::string msg = "Invalid StreamARN '";
    msg.append(arn).append(
        "': the stream name must be 1 to 128 characters of [a-zA-Z0-9_.-] with nothing after it.");
    return Status::InvalidArgument(msg);
  }
  return std::string(rest);
}

}  // namespace sluice::broker
