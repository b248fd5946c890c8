// SPDX-License-Identifier: Apache-2.0
// SigV4 verification: AWS's published test-suite vectors, a botocore-signed Kinesis request,
// every error kind, and the credential file.
#include "broker/kinesis/sigv4.h"

#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace sluice::kinesis {
namespace {

// A request that owns its bytes; View() borrows them.
struct OwnedRequest {
  std::string method = "POST";
  std::string path = "/";
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  HttpRequestView View() const {
    HttpRequestView v{method, path, query, {}, body};
    for (const auto& [n, val] : headers) v.headers.emplace_back(n, val);
    return v;
  }
  std::string* Header(const std::string& name) {
    for (auto& [n, val] : headers) {
      if (n == name) return &val;
    }
    return nullptr;
  }
  void Remove(const std::string& name) {
    std::erase_if(headers, [&](const auto& h) { return h.first == name; });
  }
};

// ---- AWS SigV4 test suite (aws-sig-v4-test-suite, as shipped with botocore and the SDKs) -----

constexpr int64_t kSuiteNowMs = 1440938160000;  // 2015-08-30T12:36:00Z
constexpr char kSuiteKeyId[] = "AKIDEXAMPLE";
constexpr char kSuiteSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

struct SuiteVector {
  const char* name;
  const char* method;
  const char* path;
  const char* query;
  std::vector<std::pair<std::string, std::string>> extra_headers;
  const char* body;
  const char* signed_headers;
  const char* signature;
};

OwnedRequest SuiteRequest(const SuiteVector& v) {
  OwnedRequest r;
  r.method = v.method;
  r.path = v.path;
  r.query = v.query;
  r.body = v.body;
  r.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  for (const auto& h : v.extra_headers) r.headers.push_back(h);
  r.headers.emplace_back("Authorization",
                         std::string("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
                                     "service/aws4_request, SignedHeaders=") +
                             v.signed_headers + ", Signature=" + v.signature);
  return r;
}

SigV4Options SuiteOptions() { return SigV4Options{.region = "us-east-1", .service = "service"}; }
CredentialStore SuiteStore() { return CredentialStore::FromList({{kSuiteKeyId, kSuiteSecret}}); }

class SigV4SuiteTest : public ::testing::TestWithParam<SuiteVector> {};

TEST_P(SigV4SuiteTest, PublishedSignatureVerifies) {
  const OwnedRequest r = SuiteRequest(GetParam());
  const SigV4Result res = VerifySigV4(r.View(), SuiteStore(), SuiteOptions(), kSuiteNowMs);
  EXPECT_TRUE(res.ok()) << AuthErrorType(res.error) << ": " << res.message;
  EXPECT_EQ(res.access_key_id, kSuiteKeyId);
}

TEST_P(SigV4SuiteTest, OneFlippedSignatureDigitFails) {
  OwnedRequest r = SuiteRequest(GetParam());
  std::string* auth = r.Header("Authorization");
  auth->back() = auth->back() == '0' ? '1' : '0';
  const SigV4Result res = VerifySigV4(r.View(), SuiteStore(), SuiteOptions(), kSuiteNowMs);
  EXPECT_EQ(res.error, AuthError::kInvalidSignature);
}

constexpr char kHostDate[] = "host;x-amz-date";
constexpr char kVanillaSig[] = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

INSTANTIATE_TEST_SUITE_P(
    AwsTestSuite, SigV4SuiteTest,
    ::testing::Values(
        SuiteVector{"get_vanilla", "GET", "/", "", {}, "", kHostDate, kVanillaSig},
        SuiteVector{"get_vanilla_query_order_key_case",
                    "GET",
                    "/",
                    "Param2=value2&Param1=value1",
                    {},
                    "",
                    kHostDate,
                    "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
        SuiteVector{"post_vanilla",
                    "POST",
                    "/",
                    "",
                    {},
                    "",
                    kHostDate,
                    "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
        SuiteVector{"post_vanilla_query",
                    "POST",
                    "/",
                    "Param1=value1",
                    {},
                    "",
                    kHostDate,
                    "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
        SuiteVector{"post_header_key_sort",
                    "POST",
                    "/",
                    "",
                    {{"My-Header1", "value1"}},
                    "",
                    "host;my-header1;x-amz-date",
                    "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
        SuiteVector{"get_header_value_trim",
                    "GET",
                    "/",
                    "",
                    {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
                    "",
                    "host;my-header1;my-header2;x-amz-date",
                    "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
        SuiteVector{"get_header_value_order",
                    "GET",
                    "/",
                    "",
                    {{"My-Header1", "value4"},
                     {"My-Header1", "value1"},
                     {"My-Header1", "value3"},
                     {"My-Header1", "value2"}},
                    "",
                    "host;my-header1;x-amz-date",
                    "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
        SuiteVector{"get_utf8",
                    "GET",
                    "/\xE1\x88\xB4",
                    "",
                    {},
                    "",
                    kHostDate,
                    "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
        SuiteVector{"get_space",
                    "GET",
                    "/example space/",
                    "",
                    {},
                    "",
                    kHostDate,
                    "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
        SuiteVector{"get_relative_relative",
                    "GET",
                    "/example1/example2/../..",
                    "",
                    {},
                    "",
                    kHostDate,
                    kVanillaSig},
        SuiteVector{"get_slash_dot_slash", "GET", "/./", "", {}, "", kHostDate, kVanillaSig},
        SuiteVector{
            "post_x_www_form_urlencoded",
            "POST",
            "/",
            "",
            {{"Content-Type", "application/x-www-form-urlencoded"}, {"Content-Length", "13"}},
            "Param1=value1",
            "content-type;host;x-amz-date",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"}),
    [](const ::testing::TestParamInfo<SuiteVector>& info) { return info.param.name; });

// ---- a Kinesis PutRecord signed by botocore 1.43.11 (SigV4Auth, clock pinned) ----------------
//
//   creds = Credentials('AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
//                       'FQoGZXIvYXdzEXAMPLETOKEN')
//   req = AWSRequest('POST', 'https://kinesis.eu-west-1.amazonaws.com/', data=BODY, headers=
//       {'X-Amz-Target': 'Kinesis_20131202.PutRecord',
//        'Content-Type': 'application/x-amz-json-1.1'})
//   SigV4Auth(creds, 'kinesis', 'eu-west-1').add_auth(req)   # at 2026-11-23T18:00:00Z

constexpr int64_t kKinesisNowMs = 1795456800000;  // 2026-11-23T18:00:00Z
constexpr char kKinesisKeyId[] = "AKIAIOSFODNN7EXAMPLE";

OwnedRequest KinesisRequest() {
  OwnedRequest r;
  r.body = R"({"StreamName":"orders","Data":"aGVsbG8=","PartitionKey":"user-1"})";
  r.headers = {
      {"Host", "kinesis.eu-west-1.amazonaws.com"},
      {"X-Amz-Target", "Kinesis_20131202.PutRecord"},
      {"Content-Type", "application/x-amz-json-1.1"},
      {"Content-Length", std::to_string(r.body.size())},
      {"X-Amz-Date", "20261123T180000Z"},
      {"X-Amz-Security-Token", "FQoGZXIvYXdzEXAMPLETOKEN"},
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261123/eu-west-1/kinesis/"
       "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
       "x-amz-target, Signature=08364daaa22a8f921f8b3beeafbad0bfb49d950e123b28478666adf83766df1a"},
  };
  return r;
}

class SigV4Test : public ::testing::Test {
 protected:
  SigV4Result Verify(const OwnedRequest& r, int64_t now_ms = kKinesisNowMs) {
    return VerifySigV4(r.View(), store_, opts_, now_ms);
  }

  CredentialStore store_ = CredentialStore::FromList(
      {{"OTHERKEY", "other-secret"}, {kKinesisKeyId, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}});
  SigV4Options opts_{.region = "eu-west-1"};
  OwnedRequest req_ = KinesisRequest();
};

TEST_F(SigV4Test, BotocorePutRecordVerifies) {
  const SigV4Result res = Verify(req_);
  EXPECT_TRUE(res.ok()) << res.message;
  EXPECT_EQ(res.access_key_id, kKinesisKeyId);
}

// Same botocore call with url '.../a%20b/./c?Param2=v%202&Param1=v1': the wire path is
// URI-encoded once more and dot segments go ("/a%2520b/c"); the query is sorted.
TEST_F(SigV4Test, BotocoreEncodedPathAndQueryVerify) {
  req_.path = "/a%20b/./c";
  req_.query = "Param2=v%202&Param1=v1";
  *req_.Header("Authorization") =
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261123/eu-west-1/kinesis/"
      "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
      "x-amz-target, Signature=5b23096c48d643112884c552890b1c4de6448cf9b8e7e2bfb020633389a1b7a8";
  const SigV4Result res = Verify(req_);
  EXPECT_TRUE(res.ok()) << res.message;
}

TEST_F(SigV4Test, UnsignedHeadersMayChange) {
  *req_.Header("Content-Length") = "999";
  req_.headers.emplace_back("User-Agent", "aws-cli/2");
  EXPECT_TRUE(Verify(req_).ok());
}

TEST_F(SigV4Test, HeaderNamesAreCaseInsensitive) {
  req_.headers[0].first = "HOST";
  req_.headers[1].first = "x-amz-target";
  req_.headers[6].first = "authorization";
  EXPECT_TRUE(Verify(req_).ok());
}

TEST_F(SigV4Test, MissingAuthorizationIsMissingAuthenticationToken) {
  req_.Remove("Authorization");
  const SigV4Result res = Verify(req_);
  EXPECT_EQ(res.error, AuthError::kMissingAuthenticationToken);
  EXPECT_EQ(res.message, "Missing Authentication Token");
  EXPECT_EQ(AuthErrorType(res.error), "MissingAuthenticationTokenException");
  EXPECT_EQ(AuthErrorHttpStatus(res.error), 400);
}

TEST_F(SigV4Test, AuthorizationWithoutSignatureIsIncomplete) {
  *req_.Header("Authorization") =
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261123/eu-west-1/kinesis/aws4_request, "
      "SignedHeaders=host;x-amz-date";
  const SigV4Result res = Verify(req_);
  EXPECT_EQ(res.error, AuthError::kIncompleteSignature);
  EXPECT_EQ(res.message, "Authorization header requires 'Signature' parameter. Authorization=" +
                             *req_.Header("Authorization"));
  EXPECT_EQ(AuthErrorType(res.error), "IncompleteSignatureException");
}

TEST_F(SigV4Test, MissingAmzDateIsIncomplete) {
  req_.Remove("X-Amz-Date");
  const SigV4Result res = Verify(req_);
  EXPECT_EQ(res.error, AuthError::kIncompleteSignature);
  EXPECT_NE(res.message.find("requires existence of either a 'X-Amz-Date' or a 'Date' header"),
            std::string::npos);
}

TEST_F(SigV4Test, MalformedHeaderPartsAreIncomplete) {
  const std::vector<std::string> bad = {
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261123/eu-west-1/kinesis, "
      "SignedHeaders=host;x-amz-date, Signature=00",
      "AWS4-HMAC-SHA512 Credential=AKIAIOSFODNN7EXAMPLE/20261123/eu-west-1/kinesis/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=00",
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261123/eu-west-1/kinesis/aws4_request, "
      "SignedHeaders=x-amz-date, Signature=00",
      "garbage",
  };
  for (const std::string& h : bad) {
    *req_.Header("Authorization") = h;
    EXPECT_EQ(Verify(req_).error, AuthError::kIncompleteSignature) << h;
  }
  *req_.Header("Authorization") = bad[0];
  EXPECT_EQ(Verify(req_).message,
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            "keyid/date/region/service/term, got "
            "'AKIAIOSFODNN7EXAMPLE/20261123/eu-west-1/kinesis'");
}

TEST_F(SigV4Test, MalformedAmzDateIsIncomplete) {
  *req_.Header("X-Amz-Date") = "2026-11-23T18:00:00Z";
  const SigV4Result res = Verify(req_);
  EXPECT_EQ(res.error, AuthError::kIncompleteSignature);
  EXPECT_EQ(res.message,
            "Date must be in ISO-8601 'basic format'. Got '2026-11-23T18:00:00Z'. See "
            "http://en.wikipedia.org/wiki/ISO_8601");
}

TEST_F(SigV4Test, UnknownAccessKeyIsUnrecognizedClient) {
  store_ = CredentialStore::FromList({{"OTHERKEY", "other-secret"}});
  const SigV4Result res = Verify(req_);
  EXPECT_EQ(res.error, AuthError::kUnrecognizedClient);
  EXPECT_EQ(res.message, "The security token included in the request is invalid.");
  EXPECT_EQ(AuthErrorType(res.error), "UnrecognizedClientException");
  EXPECT_EQ(AuthErrorHttpStatus(res.error), 400);
}

TEST_F(SigV4Test, WrongSecretIsInvalidSignatureWithCanonicalRequest) {
  store_ = CredentialStore::FromList({{kKinesisKeyId, "not-the-secret"}});
  const SigV4Result res = Verify(req_);
  EXPECT_EQ(res.error, AuthError::kInvalidSignature);
  EXPECT_EQ(AuthErrorType(res.error), "InvalidSignatureException");
  EXPECT_EQ(res.message.rfind("The request signature we calculated does not match the signature "
                              "you provided. Check your AWS Secret Access Key and signing "
                              "method. Consult the service documentation for details.",
                              0),
            0u);
  EXPECT_NE(res.message.find("The Canonical String for this request should have been\n'POST\n/\n"
                             "\ncontent-type:application/x-amz-json-1.1\n"
                             "host:kinesis.eu-west-1.amazonaws.com\n"),
            std::string::npos)
      << res.message;
}

TEST_F(SigV4Test, TamperedSignedPartsAreInvalidSignature) {
  OwnedRequest body = req_;
  body.body[body.body.size() - 3] = '2';
  EXPECT_EQ(Verify(body).error, AuthError::kInvalidSignature);
  OwnedRequest target = req_;
  *target.Header("X-Amz-Target") = "Kinesis_20131202.DeleteStream";
  EXPECT_EQ(Verify(target).error, AuthError::kInvalidSignature);
  OwnedRequest token = req_;
  *token.Header("X-Amz-Security-Token") = "other";
  EXPECT_EQ(Verify(token).error, AuthError::kInvalidSignature);
  OwnedRequest path = req_;
  path.path = "/x";
  EXPECT_EQ(Verify(path).error, AuthError::kInvalidSignature);
}

TEST_F(SigV4Test, WrongScopeIsInvalidSignature) {
  opts_.region = "us-east-1";
  opts_.service = "firehose";
  const SigV4Result res = Verify(req_);
  EXPECT_EQ(res.error, AuthError::kInvalidSignature);
  EXPECT_EQ(res.message,
            "Credential should be scoped to a valid region. Credential should be scoped to "
            "correct service: 'firehose'. ");
  opts_ = SigV4Options{.region = ""};  // any region
  EXPECT_TRUE(Verify(req_).ok());
}

TEST_F(SigV4Test, DateWithinSkewIsAccepted) {
  EXPECT_TRUE(Verify(req_, kKinesisNowMs + 15 * 60 * 1000).ok());
  EXPECT_TRUE(Verify(req_, kKinesisNowMs - 15 * 60 * 1000).ok());
}

TEST_F(SigV4Test, DateTooOldIsSignatureExpired) {
  const SigV4Result res = Verify(req_, kKinesisNowMs + 15 * 60 * 1000 + 1000);
  EXPECT_EQ(res.error, AuthError::kInvalidSignature);
  EXPECT_EQ(res.message,
            "Signature expired: 20261123T180000Z is now earlier than 20261123T180001Z "
            "(20261123T181501Z - 15 min.)");
}

TEST_F(SigV4Test, DateInFutureIsNotYetCurrent) {
  const SigV4Result res = Verify(req_, kKinesisNowMs - 15 * 60 * 1000 - 1000);
  EXPECT_EQ(res.error, AuthError::kInvalidSignature);
  EXPECT_EQ(res.message,
            "Signature not yet current: 20261123T180000Z is still later than 20261123T175959Z "
            "(20261123T174459Z + 15 min.)");
}

TEST_F(SigV4Test, ContentSha256MustMatchBody) {
  req_.headers.emplace_back("X-Amz-Content-Sha256", std::string(64, 'a'));
  const SigV4Result res = Verify(req_);
  EXPECT_EQ(res.error, AuthError::kInvalidSignature);
  EXPECT_EQ(res.message,
            "The provided 'x-amz-content-sha256' header does not match what was computed.");
}

TEST_F(SigV4Test, EmptyStoreAcceptsAnyWellFormedSignature) {
  store_ = CredentialStore();
  *req_.Header("Authorization") =
      "AWS4-HMAC-SHA256 Credential=anyone/20000101/mars-1/other/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=deadbeef";
  const SigV4Result res = Verify(req_, 0);
  EXPECT_TRUE(res.ok()) << res.message;
  EXPECT_EQ(res.access_key_id, "anyone");
}

TEST_F(SigV4Test, EmptyStoreStillRejectsMalformedRequests) {
  store_ = CredentialStore();
  OwnedRequest no_auth = req_;
  no_auth.Remove("Authorization");
  EXPECT_EQ(Verify(no_auth).error, AuthError::kMissingAuthenticationToken);
  OwnedRequest no_sig = req_;
  *no_sig.Header("Authorization") = "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request";
  EXPECT_EQ(Verify(no_sig).error, AuthError::kIncompleteSignature);
  OwnedRequest bad_date = req_;
  *bad_date.Header("X-Amz-Date") = "yesterday";
  EXPECT_EQ(Verify(bad_date).error, AuthError::kIncompleteSignature);
}

// ---- CredentialStore ------------------------------------------------------------------------

class CredentialStoreTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    const std::string path = dir_.Sub("auth");
    std::ofstream(path) << text;
    return path;
  }
  sluice::testing::TempDir dir_;
};

TEST_F(CredentialStoreTest, LoadFileSkipsCommentsAndBlankLines) {
  const auto store = CredentialStore::LoadFile(
      Write("# sluice credentials\n\nAKID1 secret1\n  # indented comment\n"
            "AKID2\tsecret/with+chars\r\n"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(store->size(), 2u);
  ASSERT_NE(store->Find("AKID1"), nullptr);
  EXPECT_EQ(store->Find("AKID1")->secret_access_key, "secret1");
  ASSERT_NE(store->Find("AKID2"), nullptr);
  EXPECT_EQ(store->Find("AKID2")->secret_access_key, "secret/with+chars");
  EXPECT_EQ(store->Find("AKID3"), nullptr);
}

TEST_F(CredentialStoreTest, LoadFileBadLineIsInvalidArgumentNamingTheLine) {
  const std::string path = Write("# header\nAKID1 secret1\nAKID2\n");
  const auto store = CredentialStore::LoadFile(path);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(store.status().IsInvalidArgument());
  EXPECT_NE(store.status().message().find(path + ":3:"), std::string::npos)
      << store.status().ToString();
  EXPECT_FALSE(CredentialStore::LoadFile(Write("AKID1 secret1 extra\n")).ok());
}

TEST_F(CredentialStoreTest, LoadFileDuplicateKeyIsInvalidArgument) {
  const auto store = CredentialStore::LoadFile(Write("AKID1 a\nAKID1 b\n"));
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(store.status().IsInvalidArgument());
  EXPECT_NE(store.status().message().find(":2: duplicate access key id AKID1"), std::string::npos);
}

TEST_F(CredentialStoreTest, LoadFileMissingFileFails) {
  const auto store = CredentialStore::LoadFile(dir_.Sub("absent"));
  EXPECT_FALSE(store.ok());
}

TEST_F(CredentialStoreTest, EmptyFileGivesEmptyStore) {
  const auto store = CredentialStore::LoadFile(Write("# nobody\n"));
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE(store->empty());
}

}  // namespace
}  // namespace sluice::kinesis
