// SPDX-License-Identifier: Apache-2.0
// Stream names and stream ARNs: validation with Kinesis's error text, ARN build and parse.
// See /work/shared/reference/kinesis-api.md section 4 (StreamName, StreamARN).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "log/base/result.h"
#include "log/base/status.h"

namespace sluice::broker {

inline constexpr size_t kMaxStreamNameLength = 128;

// Checks a Kinesis stream name: 1..128 characters, each of [a-zA-Z0-9_.-]. On failure returns
// Status::InvalidArgument whose message is the text of Kinesis's ValidationException, listing
// every violated constraint in Kinesis's order (pattern, then length), e.g.
//   1 validation error detected: Value 'a/b' at 'streamName' failed to satisfy constraint:
//   Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+
// The empty name violates both the pattern and "length greater than or equal to 1"
// ("2 validation errors detected: ...; ..."). The protocol layer maps the status to
// __type ValidationException and passes message() through verbatim.
//
// A valid name may still be "." or ".." (Kinesis allows them), so a name is never used as a raw
// file-system path component: the metadata store encodes names before touching the disk.
Status ValidateStreamName(std::string_view name);

// "arn:aws:kinesis:<region>:<account>:stream/<name>". The arguments are not validated; callers
// pass a validated name and the node's configured region and 12-digit account id.
std::string StreamArn(std::string_view region, std::string_view account, std::string_view name);

// Parses a stream ARN strictly and returns the stream name. Accepted: "arn:" partition
// ("aws" or "aws-<suffix>", e.g. aws-cn) ":kinesis:" region (non-empty, [a-z0-9-]) ":" account
// (exactly 12 digits) ":stream/" name, where the name passes ValidateStreamName. Anything else
// (consumer ARNs ".../consumer/...", other services, trailing text) is InvalidArgument: a
// ValidationException-style message for a malformed ARN, and "Invalid StreamARN '<arn>': ..."
// naming the stream-name rule when only the name part is bad. Region and account are not
// compared with the node's: callers that care compare `arn` with StreamArn(region, account, name).
Result<std::string> ParseStreamArn(std::string_view arn);

}  // namespace sluice::broker
