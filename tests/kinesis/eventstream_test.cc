// SPDX-License-Identifier: Apache-2.0
// Event stream codec: round trips per header type, botocore's published vectors both ways, a
// test per corruption kind, the Kinesis builders, and botocore parsing our bytes.
#include "broker/kinesis/eventstream.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace sluice::kinesis {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

// Vectors from botocore tests/unit/test_eventstream.py (names as there).
constexpr std::string_view kEmptyMessage =
    "\x00\x00\x00\x10\x00\x00\x00\x00\x05\xc2H\xeb}\x98\xc8\xff"sv;
constexpr std::string_view kInt8Header =
    "\x00\x00\x00\x17\x00\x00\x00\x07)\x86\x01X\x04"
    "byte\x02\xff\xc2\xf8i\xdc"sv;
constexpr std::string_view kInt16Header =
    "\x00\x00\x00\x19\x00\x00\x00\x09q\x0e\x92>\x05short\x03\xff\xff\xb2|\xb6\xcc"sv;
constexpr std::string_view kInt32Header =
    "\x00\x00\x00\x1d\x00\x00\x00\x0d\x83\xe3\xf0\xe7\x07integer"
    "\x04\xff\xff\xff\xff\x8b\x8e\x12\xeb"sv;
constexpr std::string_view kInt64Header =
    "\x00\x00\x00\x1e\x00\x00\x00\x0e]J\xdb\x8d\x04long"
    "\x05\xff\xff\xff\xff\xff\xff\xff\xffK\xc2"
    "2\xda"sv;
constexpr std::string_view kPayloadNoHeaders =
    "\x00\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'}\xc3"
    "e96"sv;
constexpr std::string_view kPayloadOneStrHeader =
    "\x00\x00\x00=\x00\x00\x00 \x07\xfd\x83\x96\x0c"
    "content-type\x07\x00\x10"
    "application/json{'foo':'bar'}\x8d\x9c\x08\xb1"sv;
constexpr std::string_view kAllHeaderTypes =
    "\x00\x00\x00"
    "b\x00\x00\x00R\x03\xb5\xcb\x9c"
    "\x01"
    "0\x00"
    "\x01"
    "1\x01"
    "\x01"
    "2\x02\x02"
    "\x01"
    "3\x03\x00\x03"
    "\x01"
    "4\x04\x00\x00\x00\x04"
    "\x01"
    "5\x05\x00\x00\x00\x00\x00\x00\x00\x05"
    "\x01"
    "6\x06\x00\x05"
    "bytes"
    "\x01"
    "7\x07\x00\x04utf8"
    "\x01"
    "8\x08\x00\x00\x00\x00\x00\x00\x00\x08"
    "\x01"
    "9\x09"
    "0123456789abcdef"
    "c56q"sv;
constexpr std::string_view kErrorEventMessage =
    "\x00\x00\x00R\x00\x00\x00"
    "B\xbf#c~"
    "\x0d:message-type\x07\x00\x05"
    "error"
    "\x0b:error-code\x07\x00\x04"
    "code"
    "\x0e:error-message\x07\x00\x07message"
    "kl\xea="sv;
constexpr std::string_view kDuplicateHeader =
    "\x00\x00\x00$\x00\x00\x00\x14K\xb9\x82\xd0\x04test\x04"
    "asdf\x04test\x04"
    "asdf\xf3\xf4uc"sv;
constexpr std::string_view kCorruptedLength =
    "\x01\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'}\xc3"
    "e96"sv;
constexpr std::string_view kCorruptedPayload =
    "\x00\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'\x8d\xc3"
    "e96"sv;
constexpr std::string_view kCorruptedHeaders =
    "\x00\x00\x00=\x00\x00\x00 \x07\xfd\x83\x96\x0c"
    "content+type\x07\x00\x10"
    "application/json{'foo':'bar'}\x8d\x9c\x08\xb1"sv;
constexpr std::string_view kCorruptedHeaderLength =
    "\x00\x00\x00=\xff\x00\x01\x02\x07\xfd\x83\x96\x0c"
    "content-type\x07\x00\x10"
    "application/json{'foo':'bar'}\x8d\x9c\x08\xb1"sv;

struct Vector {
  std::string_view name;
  std::string_view bytes;
  std::vector<EventHeader> headers;
  std::string payload;
};

std::vector<Vector> BotocoreVectors() {
  const auto uuid = [] {
    HeaderUuid u;
    constexpr std::string_view kText = "0123456789abcdef";
    for (size_t i = 0; i < u.size(); ++i) u[i] = static_cast<uint8_t>(kText[i]);
    return u;
  }();
  return {
      {"EMPTY_MESSAGE", kEmptyMessage, {}, ""},
      {"INT8_HEADER", kInt8Header, {{"byte", int8_t{-1}}}, ""},
      {"INT16_HEADER", kInt16Header, {{"short", int16_t{-1}}}, ""},
      {"INT32_HEADER", kInt32Header, {{"integer", int32_t{-1}}}, ""},
      {"INT64_HEADER", kInt64Header, {{"long", int64_t{-1}}}, ""},
      {"PAYLOAD_NO_HEADERS", kPayloadNoHeaders, {}, "{'foo':'bar'}"},
      {"PAYLOAD_ONE_STR_HEADER",
       kPayloadOneStrHeader,
       {{"content-type", std::string("application/json")}},
       "{'foo':'bar'}"},
      {"ALL_HEADERS_TYPES",
       kAllHeaderTypes,
       {{"0", true},
        {"1", false},
        {"2", int8_t{2}},
        {"3", int16_t{3}},
        {"4", int32_t{4}},
        {"5", int64_t{5}},
        {"6", HeaderBytes{"bytes"}},
        {"7", std::string("utf8")},
        {"8", HeaderTimestamp(std::chrono::milliseconds(8))},
        {"9", uuid}},
       ""},
      {"ERROR_EVENT_MESSAGE",
       kErrorEventMessage,
       {{":message-type", std::string("error")},
        {":error-code", std::string("code")},
        {":error-message", std::string("message")}},
       ""},
  };
}

// A message with valid CRCs around an arbitrary headers block, for malformed-header cases.
std::string Frame(std::string_view headers_block, std::string_view payload) {
  std::string out;
  const auto put32 = [&out](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
  };
  put32(static_cast<uint32_t>(kMinMessageSize + headers_block.size() + payload.size()));
  put32(static_cast<uint32_t>(headers_block.size()));
  put32(EventStreamCrc32(out));
  out.append(headers_block);
  out.append(payload);
  put32(EventStreamCrc32(out));
  return out;
}

// Only a prelude (12 bytes, valid CRC) claiming the given lengths.
std::string Prelude(uint32_t total, uint32_t headers_len) {
  std::string out;
  const auto put32 = [&out](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
  };
  put32(total);
  put32(headers_len);
  put32(EventStreamCrc32(out));
  return out;
}

Status DecodeStatus(std::string_view bytes) {
  size_t consumed = 0;
  Status s = DecodeMessage(bytes, &consumed).status();
  EXPECT_EQ(consumed, 0u) << "consumed set on error";
  return s;
}

void ExpectRoundTrip(const std::vector<EventHeader>& headers, std::string_view payload) {
  const std::string bytes = EncodeMessage(headers, payload);
  size_t consumed = 0;
  Result<DecodedMessage> m = DecodeMessage(bytes, &consumed);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(consumed, bytes.size());
  EXPECT_EQ(m->headers, headers);
  EXPECT_EQ(m->payload, payload);
}

TEST(EventStreamTest, RoundTripsEveryHeaderTypeAtMinAndMax) {
  HeaderUuid uuid;
  for (size_t i = 0; i < uuid.size(); ++i) uuid[i] = static_cast<uint8_t>(0xf0 + i);
  const std::vector<EventHeader> headers = {
      {"t", true},
      {"f", false},
      {"i8min", std::numeric_limits<int8_t>::min()},
      {"i8max", std::numeric_limits<int8_t>::max()},
      {"i16min", std::numeric_limits<int16_t>::min()},
      {"i16max", std::numeric_limits<int16_t>::max()},
      {"i32min", std::numeric_limits<int32_t>::min()},
      {"i32max", std::numeric_limits<int32_t>::max()},
      {"i64min", std::numeric_limits<int64_t>::min()},
      {"i64max", std::numeric_limits<int64_t>::max()},
      {"bytes-empty", HeaderBytes{}},
      {"bytes-binary", HeaderBytes{std::string("\x00\xff\x01"sv)}},
      {"string-empty", std::string()},
      {"string-utf8", std::string("h\xc3\xa9llo \xe2\x82\xac")},
      {"ts-epoch", HeaderTimestamp{}},
      {"ts-negative", HeaderTimestamp(std::chrono::milliseconds(-1))},
      {"ts-now", HeaderTimestamp(std::chrono::milliseconds(1795000000123))},
      {"uuid", uuid},
      {std::string(255, 'n'), int32_t{7}},
  };
  ExpectRoundTrip(headers, "\x00payload\xff"sv);
  // 65535-byte values, one per message: two would pass the 128 KiB headers limit.
  ExpectRoundTrip({{"bytes-max", HeaderBytes{std::string(65535, '\xab')}}}, "");
  ExpectRoundTrip({{"string-max", std::string(65535, 's')}}, "");
  ExpectRoundTrip({}, std::string(kMaxPayloadSize, 'p'));
}

TEST(EventStreamTest, TypeOfMatchesWireTags) {
  EXPECT_EQ(TypeOf(true), HeaderType::kBoolTrue);
  EXPECT_EQ(TypeOf(false), HeaderType::kBoolFalse);
  EXPECT_EQ(TypeOf(int8_t{0}), HeaderType::kByte);
  EXPECT_EQ(TypeOf(int16_t{0}), HeaderType::kShort);
  EXPECT_EQ(TypeOf(int32_t{0}), HeaderType::kInt);
  EXPECT_EQ(TypeOf(int64_t{0}), HeaderType::kLong);
  EXPECT_EQ(TypeOf(HeaderBytes{}), HeaderType::kBytes);
  EXPECT_EQ(TypeOf(std::string()), HeaderType::kString);
  EXPECT_EQ(TypeOf(HeaderTimestamp{}), HeaderType::kTimestamp);
  EXPECT_EQ(TypeOf(HeaderUuid{}), HeaderType::kUuid);
}

TEST(EventStreamTest, DecodesBotocoreVectors) {
  for (const Vector& v : BotocoreVectors()) {
    SCOPED_TRACE(v.name);
    size_t consumed = 0;
    Result<DecodedMessage> m = DecodeMessage(v.bytes, &consumed);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(consumed, v.bytes.size());
    EXPECT_EQ(m->headers, v.headers);
    EXPECT_EQ(m->payload, v.payload);
  }
}

TEST(EventStreamTest, EncodeReproducesBotocoreVectorsExactly) {
  for (const Vector& v : BotocoreVectors()) {
    SCOPED_TRACE(v.name);
    EXPECT_EQ(EncodeMessage(v.headers, v.payload), v.bytes);
  }
}

TEST(EventStreamTest, DecodesBackToBackMessagesOneAtATime) {
  std::string stream;
  for (const Vector& v : BotocoreVectors()) stream.append(v.bytes);
  std::string_view rest = stream;
  for (const Vector& v : BotocoreVectors()) {
    SCOPED_TRACE(v.name);
    size_t consumed = 0;
    Result<DecodedMessage> m = DecodeMessage(rest, &consumed);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(consumed, v.bytes.size());
    EXPECT_EQ(m->headers, v.headers);
    rest.remove_prefix(consumed);
  }
  EXPECT_TRUE(rest.empty());
}

TEST(EventStreamTest, EveryProperPrefixIsTruncated) {
  for (const Vector& v : BotocoreVectors()) {
    SCOPED_TRACE(v.name);
    for (size_t n = 0; n < v.bytes.size(); ++n) {
      EXPECT_TRUE(DecodeStatus(v.bytes.substr(0, n)).IsTruncated()) << "prefix " << n;
    }
  }
}

TEST(EventStreamTest, CorruptPreludeCrcIsCorruption) {
  std::string bytes(kPayloadOneStrHeader);
  bytes[9] ^= 0x01;
  EXPECT_TRUE(DecodeStatus(bytes).IsCorruption());
  // botocore CORRUPTED_LENGTH and CORRUPTED_HEADER_LENGTH: lengths changed, CRC not.
  EXPECT_TRUE(DecodeStatus(kCorruptedLength).IsCorruption());
  EXPECT_TRUE(DecodeStatus(kCorruptedHeaderLength).IsCorruption());
}

TEST(EventStreamTest, CorruptPreludeCrcIsReportedBeforeTheMessageArrives) {
  std::string bytes(kPayloadOneStrHeader.substr(0, kPreludeSize));
  bytes[2] ^= 0x40;
  EXPECT_TRUE(DecodeStatus(bytes).IsCorruption());
}

TEST(EventStreamTest, CorruptMessageCrcIsCorruption) {
  for (const Vector& v : BotocoreVectors()) {
    SCOPED_TRACE(v.name);
    // Flip every byte after the prelude in turn: headers, payload and the CRC itself.
    for (size_t i = kPreludeSize; i < v.bytes.size(); ++i) {
      std::string bytes(v.bytes);
      bytes[i] ^= 0x20;
      EXPECT_TRUE(DecodeStatus(bytes).IsCorruption()) << "byte " << i;
    }
  }
  EXPECT_TRUE(DecodeStatus(kCorruptedPayload).IsCorruption());
  EXPECT_TRUE(DecodeStatus(kCorruptedHeaders).IsCorruption());
}

TEST(EventStreamTest, OversizedHeadersLengthIsCorruption) {
  const uint32_t headers_len = kMaxHeadersSize + 1;
  EXPECT_TRUE(DecodeStatus(Prelude(kMinMessageSize + headers_len, headers_len)).IsCorruption());
}

TEST(EventStreamTest, OversizedPayloadLengthIsCorruptionNotTruncated) {
  EXPECT_TRUE(DecodeStatus(Prelude(kMinMessageSize + kMaxPayloadSize + 1, 0)).IsCorruption());
  EXPECT_TRUE(DecodeStatus(Prelude(std::numeric_limits<uint32_t>::max(), 0)).IsCorruption());
  // At the limit it is only waiting for bytes.
  EXPECT_TRUE(DecodeStatus(Prelude(kMinMessageSize + kMaxPayloadSize, 0)).IsTruncated());
}

TEST(EventStreamTest, InconsistentLengthsAreCorruption) {
  EXPECT_TRUE(DecodeStatus(Prelude(15, 0)).IsCorruption());  // below the minimum
  EXPECT_TRUE(DecodeStatus(Prelude(0, 0)).IsCorruption());
  EXPECT_TRUE(DecodeStatus(Prelude(20, 5)).IsCorruption());  // headers past the end
}

TEST(EventStreamTest, UnknownHeaderTypeIsCorruption) {
  for (const char type : {'\x0a', '\x7f', '\xff'}) {
    std::string block = "\x01x";
    block.push_back(type);
    Status s = DecodeStatus(Frame(block, ""));
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  }
}

TEST(EventStreamTest, HeaderRunningPastTheBlockIsCorruption) {
  // Each is a proper prefix of a valid header, framed with valid CRCs.
  const std::string full = "\x04name\x07\x00\x03val"s;
  for (size_t n = 1; n < full.size(); ++n) {
    EXPECT_TRUE(DecodeStatus(Frame(full.substr(0, n), "payload")).IsCorruption()) << n;
  }
  EXPECT_TRUE(DecodeStatus(Frame("\x01x\x05\x00\x00"sv, "")).IsCorruption());  // short long
  EXPECT_TRUE(DecodeStatus(Frame("\x01x\x09\x00\x00"sv, "")).IsCorruption());  // short uuid
}

TEST(EventStreamTest, EmptyHeaderNameIsCorruption) {
  EXPECT_TRUE(DecodeStatus(Frame("\x00\x00"sv, "")).IsCorruption());
}

TEST(EventStreamTest, DuplicateHeaderIsCorruption) {
  EXPECT_TRUE(DecodeStatus(kDuplicateHeader).IsCorruption());
}

TEST(EventStreamTest, InitialResponseEventHasKinesisHeaders) {
  const std::string bytes = InitialResponseEvent();
  size_t consumed = 0;
  Result<DecodedMessage> m = DecodeMessage(bytes, &consumed);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->headers, (std::vector<EventHeader>{
                            {":message-type", std::string("event")},
                            {":event-type", std::string("initial-response")},
                            {":content-type", std::string("application/json")},
                        }));
  EXPECT_EQ(m->payload, "{}");
}

TEST(EventStreamTest, SubscribeToShardEventCarriesPayloadVerbatim) {
  const std::string json =
      R"({"Records":[],"ContinuationSequenceNumber":"1","MillisBehindLatest":0})";
  size_t consumed = 0;
  Result<DecodedMessage> m = DecodeMessage(SubscribeToShardEvent(json), &consumed);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->StringHeader(":message-type"), "event");
  EXPECT_EQ(m->StringHeader(":event-type"), "SubscribeToShardEvent");
  EXPECT_EQ(m->StringHeader(":content-type"), "application/json");
  EXPECT_EQ(m->headers.size(), 3u);
  EXPECT_EQ(m->payload, json);
}

TEST(EventStreamTest, ExceptionEventEscapesTheMessage) {
  size_t consumed = 0;
  Result<DecodedMessage> m = DecodeMessage(
      ExceptionEvent("ResourceInUseException", "say \"hi\" \\ a\nb\t\x01 \xc3\xa9"), &consumed);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->StringHeader(":message-type"), "exception");
  EXPECT_EQ(m->StringHeader(":exception-type"), "ResourceInUseException");
  EXPECT_EQ(m->StringHeader(":content-type"), "application/json");
  EXPECT_EQ(m->payload, R"({"message":"say \"hi\" \\ a\nb\t\u0001 )"
                        "\xc3\xa9\"}");
  EXPECT_EQ(m->Find(":event-type"), nullptr);
}

TEST(EventStreamDeathTest, EncodeAbortsOnOversizedPayload) {
  const std::string payload(kMaxPayloadSize + 1, 'p');
  EXPECT_DEATH((void)EncodeMessage({}, payload), "payload over 24 MiB");
}

// botocore is the reference parser boto3 uses for SubscribeToShard; it must accept our bytes.
TEST(EventStreamTest, BotocoreParsesOurEvents) {
  if (std::system("python3 -c 'import botocore.eventstream' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3 with botocore not importable (apt-get install python3-botocore)";
  }
  sluice::testing::TempDir dir;
  {
    std::ofstream bin(dir.Sub("events.bin"), std::ios::binary);
    bin << InitialResponseEvent()
        << SubscribeToShardEvent(
               R"({"Records":[],"ContinuationSequenceNumber":"49590","MillisBehindLatest":0})")
        << ExceptionEvent("ResourceInUseException", "busy \"now\"\n");
    std::ofstream py(dir.Sub("parse.py"));
    py << "import json, sys\n"
          "from botocore.eventstream import EventStreamBuffer\n"
          "buf = EventStreamBuffer()\n"
          "buf.add_data(open(sys.argv[1], 'rb').read())\n"
          "out = [{'headers': m.headers, 'body': json.loads(m.payload),\n"
          "        'status': m.to_response_dict()['status_code']} for m in buf]\n"
          "print(json.dumps(out, sort_keys=True))\n";
  }
  const std::string cmd = "python3 " + dir.Sub("parse.py") + " " + dir.Sub("events.bin") + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), pipe)) > 0;) output.append(buf, n);
  ASSERT_EQ(pclose(pipe), 0) << output;
  EXPECT_EQ(output,
            R"([{"body": {}, "headers": {":content-type": "application/json", )"
            R"(":event-type": "initial-response", ":message-type": "event"}, "status": 200}, )"
            R"({"body": {"ContinuationSequenceNumber": "49590", "MillisBehindLatest": 0, )"
            R"("Records": []}, "headers": {":content-type": "application/json", )"
            R"(":event-type": "SubscribeToShardEvent", ":message-type": "event"}, )"
            R"("status": 200}, {"body": {"message": "busy \"now\"\n"}, "headers": )"
            R"({":content-type": "application/json", ":exception-type": )"
            R"("ResourceInUseException", ":message-type": "exception"}, "status": 400}])"
            "\n");
}

}  // namespace
}  // namespace sluice::kinesis
