// SPDX-License-Identifier: Apache-2.0
// Tests for broker/kinesis/cbor_json: CBOR ⇄ JSON for application/x-amz-cbor-1.1 bodies.
#include "broker/kinesis/cbor_json.h"

#include <cbor.h>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace sluice::kinesis {
namespace {

struct ItemUnref {
  void operator()(cbor_item_t* item) const { cbor_decref(&item); }
};
using ItemPtr = std::unique_ptr<cbor_item_t, ItemUnref>;

std::string Serialize(const ItemPtr& item) {
  unsigned char* buffer = nullptr;
  size_t capacity = 0;
  const size_t n = cbor_serialize_alloc(item.get(), &buffer, &capacity);
  std::string out(reinterpret_cast<const char*>(buffer), n);
  std::free(buffer);
  return out;
}

ItemPtr Load(std::string_view bytes) {
  cbor_load_result result;
  ItemPtr item(cbor_load(reinterpret_cast<cbor_data>(bytes.data()), bytes.size(), &result));
  EXPECT_EQ(result.error.code, CBOR_ERR_NONE);
  return item;
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

// Adds key → value to map, dropping our references (the map keeps its own).
void Put(cbor_item_t* map, const char* key, cbor_item_t* value) {
  ItemPtr k(cbor_build_string(key));
  ItemPtr v(value);
  ASSERT_TRUE(cbor_map_add(map, cbor_pair{k.get(), v.get()}));
}

// The value under `key` in a decoded map, borrowed from it.
cbor_item_t* Get(const cbor_item_t* map, std::string_view key) {
  for (size_t i = 0; i < cbor_map_size(map); ++i) {
    const cbor_pair& p = cbor_map_handle(map)[i];
    const std::string_view k(reinterpret_cast<const char*>(cbor_string_handle(p.key)),
                             cbor_string_length(p.key));
    if (k == key) return p.value;
  }
  return nullptr;
}

class CborJsonTest : public ::testing::Test {
 protected:
  Result<std::string> ToJson(std::string_view cbor) { return CborToJson(cbor, hints_); }
  Result<std::string> ToCbor(std::string_view json) { return JsonToCbor(json, hints_); }
  void ExpectRejected(std::string_view cbor, std::string_view reason) {
    const Result<std::string> r = ToJson(cbor);
    ASSERT_FALSE(r.ok()) << "accepted as " << *r;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    EXPECT_NE(r.status().message().find(reason), std::string_view::npos) << r.status().ToString();
  }

  TranscodeHints hints_ = KinesisHints();
};

TEST_F(CborJsonTest, KinesisHintsNameBlobsAndTimestamps) {
  EXPECT_TRUE(hints_.IsBlob("Data"));
  EXPECT_FALSE(hints_.IsBlob("PartitionKey"));
  for (const char* name : {"ApproximateArrivalTimestamp", "StreamCreationTimestamp",
                           "ConsumerCreationTimestamp", "Timestamp"}) {
    EXPECT_TRUE(hints_.IsTimestamp(name)) << name;
  }
}

TEST_F(CborJsonTest, JavaPutRecordRequestBecomesJsonWithBase64Data) {
  ItemPtr map(cbor_new_definite_map(3));
  Put(map.get(), "StreamName", cbor_build_string("s"));
  const unsigned char data[] = {0x00, 0xFF, 0x10, 0x80};
  Put(map.get(), "Data", cbor_build_bytestring(data, sizeof(data)));
  Put(map.get(), "PartitionKey", cbor_build_string("k"));
  const Result<std::string> json = ToJson(Serialize(map));
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(*json, R"({"StreamName":"s","Data":"AP8QgA==","PartitionKey":"k"})");
}

TEST_F(CborJsonTest, ScalarsArraysAndMapsBecomeJson) {
  ItemPtr inner(cbor_new_definite_map(1));
  Put(inner.get(), "e", cbor_new_definite_array(0));
  ItemPtr list(cbor_new_definite_array(3));
  ItemPtr one(cbor_build_uint8(1));
  ItemPtr f4(cbor_build_float4(0.25f));
  ASSERT_TRUE(cbor_array_push(list.get(), one.get()));
  ASSERT_TRUE(cbor_array_push(list.get(), f4.get()));
  ASSERT_TRUE(cbor_array_push(list.get(), inner.get()));
  ItemPtr map(cbor_new_definite_map(9));
  Put(map.get(), "u", cbor_build_uint64(18446744073709551615ull));
  Put(map.get(), "n", cbor_build_negint8(4));
  Put(map.get(), "min", cbor_build_negint64(18446744073709551615ull));
  Put(map.get(), "f", cbor_build_float8(-1.5));
  Put(map.get(), "whole", cbor_build_float2(3.0f));
  Put(map.get(), "t", cbor_build_bool(true));
  Put(map.get(), "no", cbor_build_bool(false));
  Put(map.get(), "z", cbor_new_null());
  Put(map.get(), "a", cbor_incref(list.get()));
  const Result<std::string> json = ToJson(Serialize(map));
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(*json, R"({"u":18446744073709551615,"n":-5,"min":-18446744073709551616,"f":-1.5,)"
                   R"("whole":3.0,"t":true,"no":false,"z":null,"a":[1,0.25,{"e":[]}]})");
}

TEST_F(CborJsonTest, ByteStringsBecomePaddedBase64) {
  // {"a": h'', "b": h'66', "c": h'666f', "d": h'666f6f'}
  const std::string cbor = Bytes({0xA4, 0x61, 'a', 0x40, 0x61, 'b', 0x41, 'f', 0x61, 'c', 0x42, 'f',
                                  'o', 0x61, 'd', 0x43, 'f', 'o', 'o'});
  const Result<std::string> json = ToJson(cbor);
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(*json, R"({"a":"","b":"Zg==","c":"Zm8=","d":"Zm9v"})");
}

TEST_F(CborJsonTest, TimestampTagBecomesEpochSeconds) {
  ItemPtr ms(cbor_build_uint64(1700000000123));
  ItemPtr whole(cbor_build_uint64(1700000000000));
  ItemPtr tenths(cbor_build_uint64(1700000000500));
  ItemPtr before_epoch(cbor_build_negint16(1499));  // -1500 ms
  ItemPtr fractional(cbor_build_float8(1700000000123.5));
  ItemPtr map(cbor_new_definite_map(5));
  Put(map.get(), "ms", cbor_build_tag(1, ms.get()));
  Put(map.get(), "whole", cbor_build_tag(1, whole.get()));
  Put(map.get(), "tenths", cbor_build_tag(1, tenths.get()));
  Put(map.get(), "neg", cbor_build_tag(1, before_epoch.get()));
  Put(map.get(), "float", cbor_build_tag(1, fractional.get()));
  const Result<std::string> json = ToJson(Serialize(map));
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(*json, R"({"ms":1700000000.123,"whole":1700000000,"tenths":1700000000.5,"neg":-1.5,)"
                   R"("float":1700000000.1235})");
}

TEST_F(CborJsonTest, TextIsEscapedAndUtf8Kept) {
  ItemPtr map(cbor_new_definite_map(1));
  const std::string text = "q\"b\\s/\n\t\x01\x1f\x7f h\xC3\xA9 \xF0\x9F\x98\x80";
  Put(map.get(), "k\n", cbor_build_stringn(text.data(), text.size()));
  const Result<std::string> json = ToJson(Serialize(map));
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(*json,
            "{\"k\\u000a\":\"q\\\"b\\\\s/\\u000a\\u0009\\u0001\\u001f\x7f h\xC3\xA9 "
            "\xF0\x9F\x98\x80\"}");
}

TEST_F(CborJsonTest, IndefiniteLengthItemsAreAccepted) {
  // Jackson (Java SDK v1) writes indefinite maps and arrays:
  // {_ "abc": [_ 1, 2], (_ "x", "y"): (_ h'00', h'ff'), "t": 55799(1(1000))}
  const std::string cbor = Bytes({0xBF, 0x63, 'a',  'b',  'c',  0x9F, 0x01, 0x02, 0xFF, 0x7F, 0x61,
                                  'x',  0x61, 'y',  0xFF, 0x5F, 0x41, 0x00, 0x41, 0xFF, 0xFF, 0x61,
                                  't',  0xD9, 0xD9, 0xF7, 0xC1, 0x19, 0x03, 0xE8, 0xFF});
  const Result<std::string> json = ToJson(cbor);
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(*json, R"({"abc":[1,2],"xy":"AP8=","t":1})");
}

TEST_F(CborJsonTest, SelfDescribedTopLevelMapIsAccepted) {
  const Result<std::string> json = ToJson(Bytes({0xD9, 0xD9, 0xF7, 0xA0}));
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(*json, "{}");
}

TEST_F(CborJsonTest, GetRecordsResponseBecomesCborWithBytesAndMillis) {
  const std::string json =
      R"({"Records":[{"SequenceNumber":"49590338271490256608559692538361571095921575989136588898",)"
      R"("ApproximateArrivalTimestamp":1700000000.123,"Data":"AP8QgA==","PartitionKey":"k"}],)"
      R"("NextShardIterator":"AAAA","MillisBehindLatest":0})";
  const Result<std::string> cbor = ToCbor(json);
  ASSERT_TRUE(cbor.ok()) << cbor.status().ToString();

  const ItemPtr root = Load(*cbor);
  ASSERT_TRUE(root && cbor_isa_map(root.get()));
  const cbor_item_t* records = Get(root.get(), "Records");
  ASSERT_TRUE(records && cbor_isa_array(records) && cbor_array_size(records) == 1);
  const cbor_item_t* record = cbor_array_handle(records)[0];
  const cbor_item_t* data = Get(record, "Data");
  ASSERT_TRUE(data && cbor_isa_bytestring(data));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(cbor_bytestring_handle(data)),
                        cbor_bytestring_length(data)),
            Bytes({0x00, 0xFF, 0x10, 0x80}));
  const cbor_item_t* arrival = Get(record, "ApproximateArrivalTimestamp");
  ASSERT_TRUE(arrival && cbor_isa_tag(arrival));
  EXPECT_EQ(cbor_tag_value(arrival), 1u);
  const ItemPtr millis(cbor_tag_item(arrival));
  ASSERT_TRUE(cbor_isa_uint(millis.get()));
  EXPECT_EQ(cbor_get_int(millis.get()), 1700000000123u);
  const cbor_item_t* behind = Get(root.get(), "MillisBehindLatest");
  ASSERT_TRUE(behind && cbor_isa_uint(behind));
  EXPECT_EQ(cbor_get_int(behind), 0u);
  EXPECT_TRUE(cbor_isa_string(Get(record, "SequenceNumber")));

  const Result<std::string> back = ToJson(*cbor);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, json);
}

TEST_F(CborJsonTest, JsonRoundTripsThroughCborForEveryType) {
  const std::string json =
      R"({"i":1,"n":-5,"u":18446744073709551615,"min":-9223372036854775808,"f":1.5,)"
      R"("whole":2.0,"exp":1e+300,"t":true,"no":false,"z":null,"s":"h)"
      "\xC3\xA9"
      R"(\"\u0001","a":[1,[2,{}],[]],"o":{"k":{"Data":"Zg=="}},"Data":"","Timestamp":-1.5,)"
      R"("StreamCreationTimestamp":1700000000})";
  const Result<std::string> cbor = ToCbor(json);
  ASSERT_TRUE(cbor.ok()) << cbor.status().ToString();
  const Result<std::string> back = ToJson(*cbor);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, json);
}

TEST_F(CborJsonTest, CborRoundTripsThroughJson) {
  ItemPtr arrival(cbor_build_uint64(1700000000001));
  ItemPtr created(cbor_build_negint32(99999));
  ItemPtr list(cbor_new_definite_array(2));
  ItemPtr big(cbor_build_uint32(70000));
  ItemPtr neg(cbor_build_negint16(300));
  ASSERT_TRUE(cbor_array_push(list.get(), big.get()));
  ASSERT_TRUE(cbor_array_push(list.get(), neg.get()));
  ItemPtr map(cbor_new_definite_map(7));
  const unsigned char data[] = {0xDE, 0xAD, 0xBE, 0xEF, 0x00};
  Put(map.get(), "Data", cbor_build_bytestring(data, sizeof(data)));
  Put(map.get(), "ApproximateArrivalTimestamp", cbor_build_tag(1, arrival.get()));
  Put(map.get(), "StreamCreationTimestamp", cbor_build_tag(1, created.get()));
  Put(map.get(), "List", cbor_incref(list.get()));
  Put(map.get(), "Float", cbor_build_float8(0.1));
  Put(map.get(), "Flag", cbor_build_bool(true));
  Put(map.get(), "Nothing", cbor_new_null());
  const std::string cbor = Serialize(map);
  const Result<std::string> json = ToJson(cbor);
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  const Result<std::string> back = ToCbor(*json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, cbor) << *json;
}

TEST_F(CborJsonTest, LargeBlobRoundTrips) {
  std::string blob(1 << 20, '\0');
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>(i * 131 % 251);
  ItemPtr map(cbor_new_definite_map(1));
  Put(map.get(), "Data",
      cbor_build_bytestring(reinterpret_cast<cbor_data>(blob.data()), blob.size()));
  const std::string cbor = Serialize(map);
  const Result<std::string> json = ToJson(cbor);
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  const Result<std::string> back = ToCbor(*json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, cbor);
}

TEST_F(CborJsonTest, TimestampSecondsBecomeRoundedMillis) {
  const Result<std::string> cbor =
      ToCbor(R"({"Timestamp":1700000000.0006,"ConsumerCreationTimestamp":5})");
  ASSERT_TRUE(cbor.ok()) << cbor.status().ToString();
  const ItemPtr root = Load(*cbor);
  const ItemPtr a(cbor_tag_item(Get(root.get(), "Timestamp")));
  EXPECT_EQ(cbor_get_int(a.get()), 1700000000001u);
  const ItemPtr b(cbor_tag_item(Get(root.get(), "ConsumerCreationTimestamp")));
  EXPECT_EQ(cbor_get_int(b.get()), 5000u);
}

TEST_F(CborJsonTest, NonNumberUnderTimestampNameMapsNaturally) {
  const Result<std::string> cbor = ToCbor(R"({"Timestamp":"2024-01-01T00:00:00Z"})");
  ASSERT_TRUE(cbor.ok()) << cbor.status().ToString();
  EXPECT_TRUE(cbor_isa_string(Get(Load(*cbor).get(), "Timestamp")));
}

TEST_F(CborJsonTest, BadBase64UnderBlobNameIsRejected) {
  for (const char* bad : {R"({"Data":"AP8"})", R"({"Data":"A=P8"})", R"({"Data":" AP8="})",
                          R"({"Data":"AP8*"})", R"({"Data":"A==="})"}) {
    const Result<std::string> r = ToCbor(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    EXPECT_NE(r.status().message().find("Data"), std::string_view::npos);
  }
}

TEST_F(CborJsonTest, MalformedJsonIsRejected) {
  std::string deep = R"({"a":)";
  for (int i = 0; i < kMaxTranscodeDepth; ++i) deep += "[";
  deep += std::string(kMaxTranscodeDepth, ']') + "}";
  for (const std::string& bad : {std::string(R"({"a":)"), std::string("[1]"), std::string(""),
                                 std::string(R"({"Timestamp":1e300})"), deep}) {
    const Result<std::string> r = ToCbor(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  }
}

TEST_F(CborJsonTest, EveryTruncationIsRejected) {
  const std::string cbor =
      Bytes({0xBF, 0x63, 'a',  'b',  'c',  0x9F, 0x01, 0x19, 0x01, 0x00, 0xFF, 0x7F,
             0x61, 'x',  0xFF, 0x5F, 0x42, 0x00, 0x01, 0xFF, 0x61, 't',  0xC1, 0x1B,
             0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00, 0x61, 'm',  0xA1, 0x61,
             'f',  0xFB, 0x3F, 0xF8, 0,    0,    0,    0,    0,    0,    0xFF});
  ASSERT_TRUE(ToJson(cbor).ok()) << ToJson(cbor).status().ToString();
  ExpectRejected("", "empty");
  for (size_t n = 1; n < cbor.size(); ++n) {
    SCOPED_TRACE(n);
    ExpectRejected(cbor.substr(0, n), "truncated");
  }
}

TEST_F(CborJsonTest, TrailingBytesAreRejected) {
  ExpectRejected(Bytes({0xA0, 0x00}), "trailing bytes");
  ExpectRejected(Bytes({0xA1, 0x61, 'a', 0x01, 0xA0}), "trailing bytes");
  ExpectRejected(Bytes({0xA0, 0xFF}), "trailing bytes");
}

TEST_F(CborJsonTest, NestingDeeperThan64IsRejected) {
  // A map holding n-1 nested arrays is n deep.
  const auto nested = [](int depth, bool indefinite) {
    std::string s = Bytes({indefinite ? 0xBF : 0xA1, 0x61, 'a'});
    for (int i = 1; i < depth; ++i) s.push_back(static_cast<char>(indefinite ? 0x9F : 0x81));
    s.push_back(0x01);
    if (indefinite) s.append(static_cast<size_t>(depth), static_cast<char>(0xFF));
    return s;
  };
  for (const bool indefinite : {false, true}) {
    SCOPED_TRACE(indefinite);
    EXPECT_TRUE(ToJson(nested(kMaxTranscodeDepth, indefinite)).ok());
    ExpectRejected(nested(kMaxTranscodeDepth + 1, indefinite), "nesting deeper than 64");
    ExpectRejected(nested(100000, indefinite), "nesting deeper than 64");
  }
}

TEST_F(CborJsonTest, NonStringMapKeysAreRejected) {
  ExpectRejected(Bytes({0xA1, 0x01, 0x02}), "map key is not a text string");
  ExpectRejected(Bytes({0xA1, 0x41, 'a', 0x02}), "map key is not a text string");
  ExpectRejected(Bytes({0xA1, 0x61, 'a', 0xA1, 0x80, 0x01}), "map key is not a text string");
}

TEST_F(CborJsonTest, UndefinedAndOtherSimpleValuesAreRejected) {
  ExpectRejected(Bytes({0xA1, 0x61, 'a', 0xF7}), "undefined");
  ExpectRejected(Bytes({0xA1, 0x61, 'a', 0xF0}), "unsupported item");
  ExpectRejected(Bytes({0xA1, 0x61, 'a', 0xF8, 0x20}), "unsupported item");
}

TEST_F(CborJsonTest, OtherMalformedInputIsRejected) {
  ExpectRejected(Bytes({0x81, 0x01}), "top level is not a map");
  ExpectRejected(Bytes({0x01}), "top level is not a map");
  ExpectRejected(Bytes({0xA1, 0x61, 'a', 0xC2, 0x41, 0x01}), "unsupported tag 2");
  ExpectRejected(Bytes({0xA1, 0x61, 'a', 0xC1, 0x61, 'x'}), "tag 1");
  ExpectRejected(Bytes({0xA1, 0x61, 'a', 0x62, 0xC3, 0x28}), "UTF-8");
  ExpectRejected(Bytes({0xA1, 0x61, 'a', 0xF9, 0x7E, 0x00}), "NaN");
  ExpectRejected(Bytes({0xBF, 0x61, 'a', 0xFF}), "after a key");
  ExpectRejected(Bytes({0xA1, 0x61, 'a', 0xFF}), "unexpected break");
  ExpectRejected(Bytes({0xA1, 0x61, 'a', 0x1C}), "malformed");
  // A 5-byte header claiming 2^32 - 1 array slots must not allocate them.
  ExpectRejected(Bytes({0xA1, 0x61, 'a', 0x9A, 0xFF, 0xFF, 0xFF, 0xFF, 0x00}),
                 "declared length exceeds the bytes left");
  ExpectRejected(Bytes({0xA1, 0x61, 'a', 0xBB, 0, 0, 0, 1, 0, 0, 0, 0, 0}),
                 "declared length exceeds the bytes left");
  // An indefinite text string may only hold text chunks.
  ExpectRejected(Bytes({0xA1, 0x61, 'a', 0x7F, 0x41, 'x', 0xFF}), "string chunks");
}

}  // namespace
}  // namespace sluice::kinesis
