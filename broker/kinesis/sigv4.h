// SPDX-License-Identifier: Apache-2.0
// AWS Signature Version 4 verification for the Kinesis-compatible HTTP API: the access-key
// store and VerifySigV4. See broker/kinesis/README.md (## sigv4) for the rules and error mapping.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "log/base/result.h"

namespace sluice::kinesis {

// A borrowed view of one HTTP request; every view must outlive the VerifySigV4 call.
struct HttpRequestView {
  std::string_view method;  // "POST"
  std::string_view path;    // as on the wire (still percent-encoded), without the query
  std::string_view query;   // after '?', as on the wire; empty when none
  // In arrival order; names in any case. HTTP/2 callers pass ":authority" as "host".
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::string_view body;
};

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
};

// Access key id -> secret. Immutable after construction, so safe to share between threads.
class CredentialStore {
 public:
  CredentialStore() = default;  // empty: signatures are parsed, never checked
  // Reads "ACCESS_KEY_ID SECRET" lines; blank lines and lines starting with '#' are skipped.
  // A line without exactly two fields, or a repeated key id, is InvalidArgument naming
  // "path:line".
  static Result<CredentialStore> LoadFile(const std::string& path);
  // Later duplicates replace earlier ones.
  static CredentialStore FromList(std::vector<Credentials> list);

  // nullptr when unknown; the pointer lives as long as this store.
  const Credentials* Find(std::string_view access_key_id) const;
  bool empty() const { return by_id_.empty(); }
  size_t size() const { return by_id_.size(); }

 private:
  std::map<std::string, Credentials, std::less<>> by_id_;
};

struct SigV4Options {
  std::string region = "us-east-1";  // empty: any region in the credential scope
  std::string service = "kinesis";
  int64_t max_skew_ms = 15 * 60 * 1000;
};

// The AWS error each failure maps to; the HTTP layer sends {"__type": AuthErrorType(e),
// "message": ...} with AuthErrorHttpStatus(e).
enum class AuthError : unsigned char {
  kOk = 0,
  kMissingAuthenticationToken,  // no Authorization header
  kIncompleteSignature,         // header present but missing or malformed parts
  kInvalidSignature,            // wrong scope, expired/future date, signature mismatch
  kUnrecognizedClient,          // unknown access key id
};

std::string_view AuthErrorType(AuthError e);  // "MissingAuthenticationTokenException", ...
int AuthErrorHttpStatus(AuthError e);         // 200 for kOk, 400 for every error

struct [[nodiscard]] SigV4Result {
  AuthError error = AuthError::kOk;
  std::string message;        // AWS's wording; empty when ok
  std::string access_key_id;  // the signer, when the header parsed
  bool ok() const { return error == AuthError::kOk; }
};

// Verifies the Authorization header (AWS4-HMAC-SHA256 Credential=AKID/date/region/service/
// aws4_request, SignedHeaders=..., Signature=...) and X-Amz-Date against `now_ms` (Unix ms)
// within ±max_skew_ms. Signed headers (X-Amz-Security-Token included) enter the canonical
// request; the payload hash is x-amz-content-sha256 when present (which must then match the
// body unless it is UNSIGNED-PAYLOAD), else SHA-256 of the body. Session tokens are signed
// but not validated. When `store` is empty only the parse checks apply. Thread-safe.
SigV4Result VerifySigV4(const HttpRequestView& req, const CredentialStore& store,
                        const SigV4Options& opts, int64_t now_ms);

}  // namespace sluice::kinesis
