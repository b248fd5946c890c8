// SPDX-License-Identifier: Apache-2.0
// AWS Signature Version 4 verification; the rules and messages are in broker/kinesis/README.md.
#include "broker/kinesis/sigv4.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "log/base/check.h"

namespace sluice::kinesis {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kTerminator = "aws4_request";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
constexpr size_t kSha256Size = 32;

// ---- OpenSSL wrappers -----------------------------------------------------------------------

std::string Hex(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 0xf];
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const int ok = EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  SLUICE_CHECK(ok == 1 && len == kSha256Size, "EVP_Digest(SHA-256) failed");
  return Hex(md, len);
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const unsigned char* out =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  SLUICE_CHECK(out != nullptr && len == kSha256Size, "HMAC(SHA-256) failed");
  return std::string(reinterpret_cast<const char*>(md), len);
}

// ---- string helpers -------------------------------------------------------------------------

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

char LowerChar(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = LowerChar(c);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return LowerChar(x) == LowerChar(y); });
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string_view::npos ? s.npos : pos - start));
    if (pos == std::string_view::npos) return parts;
    start = pos + 1;
  }
}

// AWS's URI encoding: unreserved characters stay, every other byte becomes %XX (uppercase).
std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xf]);
    }
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX; a malformed escape is kept literally. '+' stays '+' (SDKs send %20).
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// RFC 3986 dot-segment removal plus collapsing of empty segments, as AWS (and botocore's
// normalize_url_path) do for every service but S3.
std::string NormalizePath(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> kept;
  for (const std::string_view seg : Split(path, '/')) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!kept.empty()) kept.pop_back();
      continue;
    }
    kept.push_back(seg);
  }
  std::string out = "/";
  for (size_t i = 0; i < kept.size(); ++i) {
    if (i > 0) out += '/';
    out += kept[i];
  }
  if (!kept.empty() && path.back() == '/') out += '/';
  return out;
}

// Parameters decoded, re-encoded once, sorted by name then value.
std::string CanonicalQuery(std::string_view query) {
  if (query.empty()) return "";
  std::vector<std::pair<std::string, std::string>> params;
  for (const std::string_view pair : Split(query, '&')) {
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string_view value = eq == pair.npos ? std::string_view() : pair.substr(eq + 1);
    params.emplace_back(UriEncode(PercentDecode(key), false),
                        UriEncode(PercentDecode(value), false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

// Trimall: trim, then every whitespace run becomes one space.
std::string TrimAll(std::string_view v) {
  v = Trim(v);
  std::string out;
  out.reserve(v.size());
  bool in_space = false;
  for (const char c : v) {
    if (IsSpace(c)) {
      if (!in_space) out.push_back(' ');
      in_space = true;
    } else {
      out.push_back(c);
      in_space = false;
    }
  }
  return out;
}

// All values of a header (case-insensitive), trimmed and comma-joined in arrival order;
// *found tells an absent header from an empty one.
std::string HeaderValues(const HttpRequestView& req, std::string_view lower_name, bool* found) {
  std::string joined;
  *found = false;
  for (const auto& [name, value] : req.headers) {
    if (!EqualsIgnoreCase(name, lower_name)) continue;
    if (*found) joined += ',';
    joined += TrimAll(value);
    *found = true;
  }
  return joined;
}

// ---- dates ----------------------------------------------------------------------------------

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int ToInt(std::string_view s) {
  int v = 0;
  for (const char c : s) v = v * 10 + (c - '0');
  return v;
}

// "YYYYMMDDTHHMMSSZ" -> Unix ms; false when malformed.
bool ParseAmzDate(std::string_view s, int64_t* ms) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z' || !AllDigits(s.substr(0, 8)) ||
      !AllDigits(s.substr(9, 6))) {
    return false;
  }
  using namespace std::chrono;
  const year_month_day ymd{year(ToInt(s.substr(0, 4))), month(ToInt(s.substr(4, 2))),
                           day(ToInt(s.substr(6, 2)))};
  const int hh = ToInt(s.substr(9, 2)), mm = ToInt(s.substr(11, 2)), ss = ToInt(s.substr(13, 2));
  if (!ymd.ok() || hh > 23 || mm > 59 || ss > 60) return false;
  const auto t = sys_days(ymd) + hours(hh) + minutes(mm) + seconds(ss);
  *ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  return true;
}

std::string FormatAmzDate(int64_t ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds(ms)};
  const auto days = floor<std::chrono::days>(t);
  const year_month_day ymd{days};
  const hh_mm_ss hms{floor<seconds>(t - days)};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

// ---- the Authorization header ---------------------------------------------------------------

struct AuthHeader {
  std::string_view algorithm;
  std::string_view credential;
  std::string_view signed_headers;
  std::string_view signature;
};

// Splits "ALG k=v, k=v, k=v" on ',' and ' ' the way AWS (and kinesalite) do.
AuthHeader ParseAuthHeader(std::string_view header) {
  AuthHeader out;
  header = Trim(header);
  const size_t sp = header.find(' ');
  out.algorithm = header.substr(0, sp);
  if (sp == header.npos) return out;
  std::string_view rest = header.substr(sp + 1);
  while (!rest.empty()) {
    const size_t end = rest.find_first_of(", ");
    const std::string_view item = rest.substr(0, end);
    rest = end == rest.npos ? std::string_view() : rest.substr(end + 1);
    const size_t eq = item.find('=');
    if (eq == item.npos) continue;
    const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "Credential") out.credential = value;
    if (key == "SignedHeaders") out.signed_headers = value;
    if (key == "Signature") out.signature = value;
  }
  return out;
}

SigV4Result Fail(AuthError e, std::string message, std::string_view access_key_id = {}) {
  return SigV4Result{e, std::move(message), std::string(access_key_id)};
}

}  // namespace

// ---- CredentialStore ------------------------------------------------------------------------

Result<CredentialStore> CredentialStore::LoadFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Status::FromErrno(errno, "open auth file " + path);
  std::string text;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return Status::IOError("read auth file " + path);

  CredentialStore store;
  int line_no = 0;
  for (const std::string_view raw : Split(text, '\n')) {
    ++line_no;
    const std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#') continue;
    std::vector<std::string_view> fields;
    for (size_t i = 0; i < line.size();) {
      while (i < line.size() && IsSpace(line[i])) ++i;
      const size_t start = i;
      while (i < line.size() && !IsSpace(line[i])) ++i;
      if (i > start) fields.push_back(line.substr(start, i - start));
    }
    const std::string where = path + ":" + std::to_string(line_no);
    if (fields.size() != 2) {
      return Status::InvalidArgument(where + ": expected 'ACCESS_KEY_ID SECRET', got " +
                                     std::to_string(fields.size()) + " fields");
    }
    Credentials c{std::string(fields[0]), std::string(fields[1])};
    if (!store.by_id_.emplace(c.access_key_id, c).second) {
      return Status::InvalidArgument(where + ": duplicate access key id " + c.access_key_id);
    }
  }
  return store;
}

CredentialStore CredentialStore::FromList(std::vector<Credentials> list) {
  CredentialStore store;
  for (Credentials& c : list) {
    std::string id = c.access_key_id;
    store.by_id_.insert_or_assign(std::move(id), std::move(c));
  }
  return store;
}

const Credentials* CredentialStore::Find(std::string_view access_key_id) const {
  const auto it = by_id_.find(access_key_id);
  return it == by_id_.end() ? nullptr : &it->second;
}

// ---- errors ---------------------------------------------------------------------------------

std::string_view AuthErrorType(AuthError e) {
  switch (e) {
    case AuthError::kOk:
      return "";
    case AuthError::kMissingAuthenticationToken:
      return "MissingAuthenticationTokenException";
    case AuthError::kIncompleteSignature:
      return "IncompleteSignatureException";
    case AuthError::kInvalidSignature:
      return "InvalidSignatureException";
    case AuthError::kUnrecognizedClient:
      return "UnrecognizedClientException";
  }
  return "InternalFailure";
}

int AuthErrorHttpStatus(AuthError e) { return e == AuthError::kOk ? 200 : 400; }

// ---- VerifySigV4 ----------------------------------------------------------------------------

SigV4Result VerifySigV4(const HttpRequestView& req, const CredentialStore& store,
                        const SigV4Options& opts, int64_t now_ms) {
  bool has_auth = false;
  const std::string authorization = HeaderValues(req, "authorization", &has_auth);
  if (!has_auth) {
    return Fail(AuthError::kMissingAuthenticationToken, "Missing Authentication Token");
  }

  // Parse checks: the only ones applied when no credentials are configured.
  const AuthHeader auth = ParseAuthHeader(authorization);
  if (auth.algorithm != kAlgorithm) {
    return Fail(AuthError::kIncompleteSignature,
                "Unsupported AWS 'algorithm': '" + std::string(auth.algorithm) + "'");
  }
  bool has_date = false;
  const std::string amz_date = HeaderValues(req, "x-amz-date", &has_date);
  std::string missing;
  if (auth.credential.empty()) missing += "Authorization header requires 'Credential' parameter. ";
  if (auth.signature.empty()) missing += "Authorization header requires 'Signature' parameter. ";
  if (auth.signed_headers.empty()) {
    missing += "Authorization header requires 'SignedHeaders' parameter. ";
  }
  if (!has_date) {
    missing +=
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ";
  }
  if (!missing.empty()) {
    return Fail(AuthError::kIncompleteSignature, missing + "Authorization=" + authorization);
  }
  const std::vector<std::string_view> scope = Split(auth.credential, '/');
  if (scope.size() != 5) {
    return Fail(AuthError::kIncompleteSignature,
                "Credential must have exactly 5 slash-delimited elements, e.g. "
                "keyid/date/region/service/term, got '" +
                    std::string(auth.credential) + "'");
  }
  const std::string_view key_id = scope[0];
  int64_t request_ms = 0;
  if (!ParseAmzDate(amz_date, &request_ms)) {
    return Fail(AuthError::kIncompleteSignature,
                "Date must be in ISO-8601 'basic format'. Got '" + amz_date +
                    "'. See http://en.wikipedia.org/wiki/ISO_8601",
                key_id);
  }
  const std::vector<std::string_view> signed_names = Split(auth.signed_headers, ';');
  if (std::find(signed_names.begin(), signed_names.end(), "host") == signed_names.end()) {
    return Fail(AuthError::kIncompleteSignature,
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
                key_id);
  }
  if (store.empty()) return SigV4Result{AuthError::kOk, "", std::string(key_id)};

  // Scope and clock.
  std::string scope_errors;
  if (!opts.region.empty() && scope[2] != opts.region) {
    scope_errors += "Credential should be scoped to a valid region. ";
  }
  if (scope[3] != opts.service) {
    scope_errors += "Credential should be scoped to correct service: '" + opts.service + "'. ";
  }
  if (scope[4] != kTerminator) {
    scope_errors += "Credential should be scoped with a valid terminator: 'aws4_request', not '" +
                    std::string(scope[4]) + "'. ";
  }
  if (scope[1] != std::string_view(amz_date).substr(0, 8)) {
    scope_errors +=
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
        "date from HTTP: '" +
        std::string(scope[1]) + "' != '" + amz_date.substr(0, 8) + "', from '" + amz_date + "'.";
  }
  if (!scope_errors.empty()) return Fail(AuthError::kInvalidSignature, scope_errors, key_id);
  const std::string skew_min = std::to_string(opts.max_skew_ms / 60000) + " min.)";
  if (request_ms < now_ms - opts.max_skew_ms) {
    return Fail(AuthError::kInvalidSignature,
                "Signature expired: " + amz_date + " is now earlier than " +
                    FormatAmzDate(now_ms - opts.max_skew_ms) + " (" + FormatAmzDate(now_ms) +
                    " - " + skew_min,
                key_id);
  }
  if (request_ms > now_ms + opts.max_skew_ms) {
    return Fail(AuthError::kInvalidSignature,
                "Signature not yet current: " + amz_date + " is still later than " +
                    FormatAmzDate(now_ms + opts.max_skew_ms) + " (" + FormatAmzDate(now_ms) +
                    " + " + skew_min,
                key_id);
  }

  const Credentials* creds = store.Find(key_id);
  if (creds == nullptr) {
    return Fail(AuthError::kUnrecognizedClient,
                "The security token included in the request is invalid.", key_id);
  }

  // Payload hash: the client's x-amz-content-sha256 when sent, checked against the body.
  bool has_content_sha = false;
  std::string payload_hash = HeaderValues(req, "x-amz-content-sha256", &has_content_sha);
  if (!has_content_sha) {
    payload_hash = Sha256Hex(req.body);
  } else if (payload_hash != kUnsignedPayload && Lower(payload_hash) != Sha256Hex(req.body)) {
    return Fail(AuthError::kInvalidSignature,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                key_id);
  }

  // Canonical request: method, path, query, signed headers, their names, payload hash.
  std::string canonical;
  canonical.append(req.method).append("\n");
  canonical.append(UriEncode(NormalizePath(req.path), true)).append("\n");
  canonical.append(CanonicalQuery(req.query)).append("\n");
  for (const std::string_view name : signed_names) {
    bool found = false;
    canonical.append(name).append(":").append(HeaderValues(req, name, &found)).append("\n");
  }
  canonical.append("\n").append(auth.signed_headers).append("\n").append(payload_hash);

  const std::string credential_scope = std::string(auth.credential.substr(key_id.size() + 1));
  const std::string string_to_sign = std::string(kAlgorithm) + "\n" + amz_date + "\n" +
                                     credential_scope + "\n" + Sha256Hex(canonical);
  std::string key = "AWS4" + creds->secret_access_key;
  for (size_t i = 1; i < 5; ++i) key = HmacSha256(key, scope[i]);
  const std::string sig = HmacSha256(key, string_to_sign);
  const std::string expected = Hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
  if (auth.signature.size() != expected.size() ||
      CRYPTO_memcmp(auth.signature.data(), expected.data(), expected.size()) != 0) {
    return Fail(AuthError::kInvalidSignature,
                "The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method. Consult the "
                "service documentation for details.\n\nThe Canonical String for this request "
                "should have been\n'" +
                    canonical + "'\n\nThe String-to-Sign should have been\n'" + string_to_sign +
                    "'\n",
                key_id);
  }
  return SigV4Result{AuthError::kOk, "", std::string(key_id)};
}

}  // namespace sluice::kinesis
