// SPDX-License-Identifier: Apache-2.0
// Transcoding between the `application/x-amz-cbor-1.1` bodies Java SDK clients send and the
// JSON bodies the Kinesis handlers speak. See broker/kinesis/README.md "cbor_json" and
// /work/shared/reference/kinesis-api.md §1 (JSON) and §3 (CBOR).
#pragma once

#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "log/base/result.h"

namespace sluice::kinesis {

// Containers (maps and arrays, definite or indefinite) may nest this deep, the top-level
// map counting as 1; deeper input is rejected in both directions.
constexpr int kMaxTranscodeDepth = 64;

// Which member names carry blobs and which carry timestamps. JSON has no types for either
// (blob = base64 string, timestamp = epoch seconds number), so JsonToCbor needs the names;
// CBOR types both itself. A hint applies to a member's direct value at any depth
// (`Records[i].Data`), never to the elements of an array under that name.
struct TranscodeHints {
  std::set<std::string, std::less<>> blob_members;
  std::set<std::string, std::less<>> timestamp_members;

  bool IsBlob(std::string_view member) const { return blob_members.contains(member); }
  bool IsTimestamp(std::string_view member) const { return timestamp_members.contains(member); }
};

// The Kinesis 2013-12-02 model's blob members (Data) and timestamp members
// (ApproximateArrivalTimestamp, StreamCreationTimestamp, ConsumerCreationTimestamp, Timestamp).
TranscodeHints KinesisHints();

// A CBOR request body (one map, nothing after it) → compact JSON text for the handlers.
// Byte strings become padded standard base64 strings; tag 1 (integer or float epoch
// MILLISECONDS, the x-amz-cbor convention) becomes a number of epoch seconds with the
// millisecond fraction ("1700000000.123"); text strings keep their UTF-8 and escape `"`, `\`
// and control characters as \u00XX; floats that are whole print with ".0" so they stay floats.
// Tag 55799 (self-described CBOR) is skipped. InvalidArgument, with the reason and byte
// offset where known, for: empty, truncated or malformed input, trailing bytes, a top level
// that is not a map, nesting deeper than kMaxTranscodeDepth, non-text map keys, invalid UTF-8,
// undefined and simple values other than true/false/null, other tags, NaN/Infinity.
// `hints` is unused today (CBOR carries its own types); it keeps both directions alike.
// Thread-safe.
Result<std::string> CborToJson(std::string_view cbor, const TranscodeHints& hints);

// A JSON response body (one object) → CBOR. A string under a blob member is strictly
// base64-decoded (padded, standard alphabet) into a byte string; a number under a timestamp
// member (epoch seconds, integer or fractional) becomes tag 1 + integer milliseconds, rounded
// to nearest. Everything else maps naturally: integers stay integers (smallest encoding),
// numbers with a fraction or exponent become float64, objects become definite maps in member
// order. InvalidArgument for invalid JSON, a top level that is not an object, nesting deeper
// than kMaxTranscodeDepth, bad base64 under a blob member, or a timestamp out of int64 ms.
// Callers pass empty bodies (operations without output) through untouched. Thread-safe (one
// simdjson parser per thread, kept between calls).
Result<std::string> JsonToCbor(std::string_view json, const TranscodeHints& hints);

}  // namespace sluice::kinesis
