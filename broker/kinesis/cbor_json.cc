// SPDX-License-Identifier: Apache-2.0
// CBOR ⇄ JSON for `application/x-amz-cbor-1.1`: libcbor decodes and encodes, simdjson parses,
// OpenSSL does base64. See cbor_json.h for the mapping and broker/kinesis/README.md.
#include "broker/kinesis/cbor_json.h"

#include <cbor.h>
#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <openssl/evp.h>
#include <simdjson.h>
#include <string>
#include <vector>

namespace sluice::kinesis {
namespace {

constexpr uint64_t kTagEpoch = 1;             // RFC 8949 §3.4.2; x-amz-cbor puts ms in it.
constexpr uint64_t kTagSelfDescribe = 55799;  // RFC 8949 §3.4.6: a no-op marker.

Status CborError(std::string_view what) {
  return Status::InvalidArgument(std::string("CBOR body: ").append(what));
}
Status CborErrorAt(std::string_view what, size_t offset) {
  return CborError(std::string(what).append(" at byte ").append(std::to_string(offset)));
}
Status JsonError(std::string_view what) {
  return Status::InvalidArgument(std::string("JSON body: ").append(what));
}

// ---- base64 (OpenSSL) ----------------------------------------------------------------------

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock adds a NUL.
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Strict: a multiple of 4 characters, '=' only as the last one or two. EVP_DecodeBlock
// rejects characters outside the alphabet but skips surrounding whitespace and counts
// padding as zero bytes, so those two checks are ours.
Result<std::string> Base64Decode(std::string_view text, std::string_view member) {
  const auto bad = [&](std::string_view why) {
    return JsonError(
        std::string("member \"").append(member).append("\" is not base64: ").append(why));
  };
  if (text.size() % 4 != 0) return bad("length is not a multiple of 4");
  if (text.size() > static_cast<size_t>(INT_MAX)) return bad("too long");
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  if (text.substr(0, text.size() - padding).find('=') != std::string_view::npos) {
    return bad("'=' before the end");
  }
  if (!text.empty() && (std::isspace(static_cast<unsigned char>(text.front())) ||
                        std::isspace(static_cast<unsigned char>(text.back())))) {
    return bad("whitespace");
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) != out.size()) return bad("invalid character");
  out.resize(out.size() - padding);
  return out;
}

// ---- CBOR prescan --------------------------------------------------------------------------
//
// cbor_load allocates a definite container's slots before reading them (9a ffffffff asks for
// 32 GiB) and builds up to CBOR_MAX_STACK_SIZE levels. So one streaming pass with libcbor's
// own decoder comes first: it bounds every declared count by the bytes left, bounds depth,
// checks indefinite maps hold whole pairs, and finds where the top-level item ends.

class Prescan {
 public:
  // The length of the single top-level item, or the error.
  static Result<size_t> Run(std::string_view cbor) {
    Prescan scan;
    cbor_callbacks callbacks = Callbacks();
    const auto* data = reinterpret_cast<cbor_data>(cbor.data());
    size_t pos = 0;
    while (!scan.done_) {
      if (pos == cbor.size()) {
        return pos == 0 ? CborError("empty body") : CborErrorAt("truncated input", pos);
      }
      scan.left_ = cbor.size() - pos;
      const cbor_decoder_result r = cbor_stream_decode(data + pos, scan.left_, &callbacks, &scan);
      if (r.status == CBOR_DECODER_NEDATA) return CborErrorAt("truncated input", pos);
      if (r.status != CBOR_DECODER_FINISHED) {
        return CborErrorAt("malformed or unsupported item (reserved simple value?)", pos);
      }
      if (!scan.error_.empty()) return CborErrorAt(scan.error_, pos);
      pos += r.read;
    }
    if (pos != cbor.size()) return CborErrorAt("trailing bytes after the top-level map", pos);
    return pos;
  }

 private:
  struct Frame {
    bool indefinite;
    bool is_map;
    bool counts_depth;   // arrays and maps; not tags or chunked strings
    uint64_t remaining;  // items still due (definite frames)
    uint64_t seen;       // items seen (indefinite frames)
  };

  void Fail(std::string_view why) {
    if (error_.empty()) error_ = why;
  }
  // An item starts: it takes a slot in the enclosing frame.
  void Take() {
    if (frames_.empty()) return;
    Frame& f = frames_.back();
    if (f.indefinite) {
      ++f.seen;
    } else {
      --f.remaining;
    }
  }
  // An item ends: close every definite frame it filled.
  void Complete() {
    while (!frames_.empty() && !frames_.back().indefinite && frames_.back().remaining == 0) {
      if (frames_.back().counts_depth) --depth_;
      frames_.pop_back();
    }
    if (frames_.empty()) done_ = true;
  }
  void Push(Frame f) {
    frames_.push_back(f);
    if (f.counts_depth && ++depth_ > kMaxTranscodeDepth) Fail("nesting deeper than 64");
  }
  void Scalar() {
    Take();
    Complete();
  }
  void Definite(uint64_t items, bool is_map) {
    // Every item takes at least one byte, so a count above the bytes left is a lie.
    if (items > left_ || (is_map && items > left_ / 2))
      Fail("truncated input: declared length exceeds the bytes left");
    Take();
    if (items == 0) {
      Complete();
    } else {
      Push({false, is_map, true, is_map ? 2 * items : items, 0});
    }
  }
  void Indefinite(bool is_map, bool counts_depth) {
    Take();
    Push({true, is_map, counts_depth, 0, 0});
  }
  void Break() {
    if (frames_.empty() || !frames_.back().indefinite) return Fail("unexpected break");
    if (frames_.back().is_map && frames_.back().seen % 2 != 0) {
      return Fail("indefinite map ends after a key");
    }
    if (frames_.back().counts_depth) --depth_;
    frames_.pop_back();
    Complete();
  }
  static Prescan* Self(void* ctx) { return static_cast<Prescan*>(ctx); }
  static cbor_callbacks Callbacks() {
    cbor_callbacks c = cbor_empty_callbacks;
    c.uint8 = [](void* p, uint8_t) { Self(p)->Scalar(); };
    c.uint16 = [](void* p, uint16_t) { Self(p)->Scalar(); };
    c.uint32 = [](void* p, uint32_t) { Self(p)->Scalar(); };
    c.uint64 = [](void* p, uint64_t) { Self(p)->Scalar(); };
    c.negint8 = [](void* p, uint8_t) { Self(p)->Scalar(); };
    c.negint16 = [](void* p, uint16_t) { Self(p)->Scalar(); };
    c.negint32 = [](void* p, uint32_t) { Self(p)->Scalar(); };
    c.negint64 = [](void* p, uint64_t) { Self(p)->Scalar(); };
    c.byte_string = [](void* p, cbor_data, size_t) { Self(p)->Scalar(); };
    c.string = [](void* p, cbor_data, size_t) { Self(p)->Scalar(); };
    // libcbor's field comments are swapped: *_string_start is the indefinite form.
    c.byte_string_start = [](void* p) { Self(p)->Indefinite(false, false); };
    c.string_start = [](void* p) { Self(p)->Indefinite(false, false); };
    c.array_start = [](void* p, size_t n) { Self(p)->Definite(n, false); };
    c.map_start = [](void* p, size_t n) { Self(p)->Definite(n, true); };
    c.indef_array_start = [](void* p) { Self(p)->Indefinite(false, true); };
    c.indef_map_start = [](void* p) { Self(p)->Indefinite(true, true); };
    c.tag = [](void* p, uint64_t) {
      Self(p)->Take();
      Self(p)->Push({false, false, false, 1, 0});
    };
    c.float2 = [](void* p, float) { Self(p)->Scalar(); };
    c.float4 = [](void* p, float) { Self(p)->Scalar(); };
    c.float8 = [](void* p, double) { Self(p)->Scalar(); };
    c.null = [](void* p) { Self(p)->Scalar(); };
    c.boolean = [](void* p, bool) { Self(p)->Scalar(); };
    c.undefined = [](void* p) { Self(p)->Fail("undefined is not allowed"); };
    c.indef_break = [](void* p) { Self(p)->Break(); };
    return c;
  }

  std::vector<Frame> frames_;
  int depth_ = 0;
  size_t left_ = 0;
  bool done_ = false;
  std::string error_;
};

// ---- CBOR item → JSON ----------------------------------------------------------------------

struct ItemUnref {
  void operator()(cbor_item_t* item) const { cbor_decref(&item); }
};
using ItemPtr = std::unique_ptr<cbor_item_t, ItemUnref>;

void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 0xF]);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

Status AppendDouble(double d, std::string* out) {
  if (!std::isfinite(d)) return CborError("NaN and Infinity have no JSON form");
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), d);  // shortest round-trip form
  const std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
  out->append(text);
  if (text.find_first_of(".e") == std::string_view::npos) out->append(".0");
  return Status::OK();
}

// |ms| as seconds: "1700000000.123", "1700000000.5", "1700000000".
void AppendMillis(bool negative, uint64_t ms, std::string* out) {
  if (negative) out->push_back('-');
  out->append(std::to_string(ms / 1000));
  uint64_t frac = ms % 1000;
  if (frac == 0) return;
  char digits[4] = {static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                    static_cast<char>('0' + frac % 10), '\0'};
  std::string_view f(digits, 3);
  while (f.back() == '0') f.remove_suffix(1);
  out->push_back('.');
  out->append(f);
}

// The bytes of a (possibly chunked) byte or text string.
std::string StringBytes(const cbor_item_t* item) {
  const bool bytes = cbor_isa_bytestring(item);
  if (bytes ? cbor_bytestring_is_definite(item) : cbor_string_is_definite(item)) {
    const cbor_data h = bytes ? cbor_bytestring_handle(item) : cbor_string_handle(item);
    const size_t n = bytes ? cbor_bytestring_length(item) : cbor_string_length(item);
    return std::string(reinterpret_cast<const char*>(h), n);
  }
  std::string out;
  cbor_item_t** chunks =
      bytes ? cbor_bytestring_chunks_handle(item) : cbor_string_chunks_handle(item);
  const size_t count = bytes ? cbor_bytestring_chunk_count(item) : cbor_string_chunk_count(item);
  for (size_t i = 0; i < count; ++i) out.append(StringBytes(chunks[i]));
  return out;
}

Status AppendText(const cbor_item_t* item, std::string* out) {
  const std::string s = StringBytes(item);
  if (!simdjson::validate_utf8(s.data(), s.size())) return CborError("text string is not UTF-8");
  AppendJsonString(s, out);
  return Status::OK();
}

Status AppendTimestamp(const cbor_item_t* tagged, std::string* out) {
  switch (cbor_typeof(tagged)) {
    case CBOR_TYPE_UINT:
      AppendMillis(false, cbor_get_int(tagged), out);
      return Status::OK();
    case CBOR_TYPE_NEGINT: {
      const uint64_t n = cbor_get_int(tagged);  // the value is -1 - n
      if (n == UINT64_MAX) return CborError("timestamp out of range");
      AppendMillis(true, n + 1, out);
      return Status::OK();
    }
    case CBOR_TYPE_FLOAT_CTRL:
      if (!cbor_float_ctrl_is_ctrl(tagged))
        return AppendDouble(cbor_float_get_float(tagged) / 1000.0, out);
      [[fallthrough]];
    default:
      return CborError("tag 1 (timestamp) must hold an integer or float of epoch milliseconds");
  }
}

Status AppendJson(const cbor_item_t* item, int depth, std::string* out) {
  switch (cbor_typeof(item)) {
    case CBOR_TYPE_UINT:
      out->append(std::to_string(cbor_get_int(item)));
      return Status::OK();
    case CBOR_TYPE_NEGINT: {
      const uint64_t n = cbor_get_int(item);  // the value is -1 - n
      out->append(n == UINT64_MAX ? "-18446744073709551616" : "-" + std::to_string(n + 1));
      return Status::OK();
    }
    case CBOR_TYPE_BYTESTRING:
      out->push_back('"');
      out->append(Base64Encode(StringBytes(item)));
      out->push_back('"');
      return Status::OK();
    case CBOR_TYPE_STRING:
      return AppendText(item, out);
    case CBOR_TYPE_ARRAY: {
      if (depth > kMaxTranscodeDepth) return CborError("nesting deeper than 64");
      out->push_back('[');
      cbor_item_t** items = cbor_array_handle(item);
      for (size_t i = 0; i < cbor_array_size(item); ++i) {
        if (i > 0) out->push_back(',');
        SLUICE_TRY(AppendJson(items[i], depth + 1, out));
      }
      out->push_back(']');
      return Status::OK();
    }
    case CBOR_TYPE_MAP: {
      if (depth > kMaxTranscodeDepth) return CborError("nesting deeper than 64");
      out->push_back('{');
      cbor_pair* pairs = cbor_map_handle(item);
      for (size_t i = 0; i < cbor_map_size(item); ++i) {
        if (pairs[i].key == nullptr || pairs[i].value == nullptr) {
          return CborError("map ends after a key");
        }
        if (!cbor_isa_string(pairs[i].key)) return CborError("map key is not a text string");
        if (i > 0) out->push_back(',');
        SLUICE_TRY(AppendText(pairs[i].key, out));
        out->push_back(':');
        SLUICE_TRY(AppendJson(pairs[i].value, depth + 1, out));
      }
      out->push_back('}');
      return Status::OK();
    }
    case CBOR_TYPE_TAG: {
      const ItemPtr tagged(cbor_tag_item(item));  // cbor_tag_item adds a reference
      switch (cbor_tag_value(item)) {
        case kTagEpoch:
          return AppendTimestamp(tagged.get(), out);
        case kTagSelfDescribe:
          return AppendJson(tagged.get(), depth, out);
        default:
          return CborError("unsupported tag " + std::to_string(cbor_tag_value(item)));
      }
    }
    case CBOR_TYPE_FLOAT_CTRL:
      if (!cbor_float_ctrl_is_ctrl(item)) return AppendDouble(cbor_float_get_float(item), out);
      switch (cbor_ctrl_value(item)) {
        case CBOR_CTRL_FALSE:
          out->append("false");
          return Status::OK();
        case CBOR_CTRL_TRUE:
          out->append("true");
          return Status::OK();
        case CBOR_CTRL_NULL:
          out->append("null");
          return Status::OK();
        case CBOR_CTRL_UNDEF:
          return CborError("undefined is not allowed");
        default:
          return CborError("simple value " + std::to_string(cbor_ctrl_value(item)) +
                           " is not allowed");
      }
  }
  return CborError("unknown item type");
}

// ---- JSON → CBOR ---------------------------------------------------------------------------

enum class Hint { kNone, kBlob, kTimestamp };

// The smallest encoding of v; nullptr when out of memory.
cbor_item_t* BuildUint(uint64_t v) {
  if (v <= UINT8_MAX) return cbor_build_uint8(static_cast<uint8_t>(v));
  if (v <= UINT16_MAX) return cbor_build_uint16(static_cast<uint16_t>(v));
  if (v <= UINT32_MAX) return cbor_build_uint32(static_cast<uint32_t>(v));
  return cbor_build_uint64(v);
}

cbor_item_t* BuildInt(int64_t v) {
  if (v >= 0) return BuildUint(static_cast<uint64_t>(v));
  const uint64_t n = ~static_cast<uint64_t>(v);  // CBOR stores -1 - v
  if (n <= UINT8_MAX) return cbor_build_negint8(static_cast<uint8_t>(n));
  if (n <= UINT16_MAX) return cbor_build_negint16(static_cast<uint16_t>(n));
  if (n <= UINT32_MAX) return cbor_build_negint32(static_cast<uint32_t>(n));
  return cbor_build_negint64(n);
}

Result<ItemPtr> Built(cbor_item_t* item) {
  if (item == nullptr) return Status::Unavailable("out of memory building CBOR");
  return ItemPtr(item);
}

Result<ItemPtr> BuildTimestamp(simdjson::dom::element value, std::string_view member) {
  int64_t ms = 0;
  int64_t seconds = 0;
  double fractional = 0;
  if (value.get_int64().get(seconds) == simdjson::SUCCESS) {
    if (__builtin_mul_overflow(seconds, int64_t{1000}, &ms)) {
      return JsonError(std::string("timestamp \"").append(member).append("\" out of range"));
    }
  } else if (value.get_double().get(fractional) == simdjson::SUCCESS &&
             std::fabs(fractional) < 9.2e15) {  // |ms| < 2^63 with room to round
    ms = std::llround(fractional * 1000.0);
  } else {
    return JsonError(std::string("timestamp \"").append(member).append("\" out of range"));
  }
  SLUICE_ASSIGN_OR_RETURN(ItemPtr millis, Built(BuildInt(ms)));
  return Built(cbor_build_tag(kTagEpoch, millis.get()));  // the tag adds its own reference
}

Result<ItemPtr> BuildItem(simdjson::dom::element value, std::string_view member, Hint hint,
                          int depth, const TranscodeHints& hints) {
  using simdjson::dom::element_type;
  switch (value.type()) {
    case element_type::OBJECT: {
      if (depth > kMaxTranscodeDepth) return JsonError("nesting deeper than 64");
      simdjson::dom::object object;
      if (value.get(object) != simdjson::SUCCESS) return JsonError("bad object");
      SLUICE_ASSIGN_OR_RETURN(ItemPtr map, Built(cbor_new_definite_map(object.size())));
      for (const simdjson::dom::key_value_pair field : object) {
        const Hint child = hints.IsBlob(field.key)        ? Hint::kBlob
                           : hints.IsTimestamp(field.key) ? Hint::kTimestamp
                                                          : Hint::kNone;
        SLUICE_ASSIGN_OR_RETURN(ItemPtr key,
                                Built(cbor_build_stringn(field.key.data(), field.key.size())));
        SLUICE_ASSIGN_OR_RETURN(ItemPtr item,
                                BuildItem(field.value, field.key, child, depth + 1, hints));
        if (!cbor_map_add(map.get(), cbor_pair{key.get(), item.get()})) {
          return Status::Unavailable("out of memory building CBOR");
        }
      }
      return map;
    }
    case element_type::ARRAY: {
      if (depth > kMaxTranscodeDepth) return JsonError("nesting deeper than 64");
      simdjson::dom::array array;
      if (value.get(array) != simdjson::SUCCESS) return JsonError("bad array");
      SLUICE_ASSIGN_OR_RETURN(ItemPtr list, Built(cbor_new_definite_array(array.size())));
      for (const simdjson::dom::element e : array) {
        SLUICE_ASSIGN_OR_RETURN(ItemPtr item, BuildItem(e, member, Hint::kNone, depth + 1, hints));
        if (!cbor_array_push(list.get(), item.get())) {
          return Status::Unavailable("out of memory building CBOR");
        }
      }
      return list;
    }
    case element_type::STRING: {
      std::string_view s;
      if (value.get(s) != simdjson::SUCCESS) return JsonError("bad string");
      if (hint == Hint::kBlob) {
        SLUICE_ASSIGN_OR_RETURN(const std::string bytes, Base64Decode(s, member));
        return Built(
            cbor_build_bytestring(reinterpret_cast<cbor_data>(bytes.data()), bytes.size()));
      }
      return Built(cbor_build_stringn(s.data(), s.size()));
    }
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: {
      if (hint == Hint::kTimestamp) return BuildTimestamp(value, member);
      int64_t i = 0;
      uint64_t u = 0;
      double d = 0;
      if (value.type() == element_type::INT64 && value.get(i) == simdjson::SUCCESS) {
        return Built(BuildInt(i));
      }
      if (value.type() == element_type::UINT64 && value.get(u) == simdjson::SUCCESS) {
        return Built(BuildUint(u));
      }
      if (value.get(d) != simdjson::SUCCESS) return JsonError("bad number");
      return Built(cbor_build_float8(d));
    }
    case element_type::BOOL: {
      bool b = false;
      if (value.get(b) != simdjson::SUCCESS) return JsonError("bad boolean");
      return Built(cbor_build_bool(b));
    }
    case element_type::NULL_VALUE:
      return Built(cbor_new_null());
  }
  return JsonError("unsupported value");
}

}  // namespace

TranscodeHints KinesisHints() {
  return TranscodeHints{
      .blob_members = {"Data"},
      .timestamp_members = {"ApproximateArrivalTimestamp", "StreamCreationTimestamp",
                            "ConsumerCreationTimestamp", "Timestamp"},
  };
}

Result<std::string> CborToJson(std::string_view cbor, const TranscodeHints& /*hints*/) {
  SLUICE_ASSIGN_OR_RETURN(const size_t length, Prescan::Run(cbor));
  cbor_load_result loaded;
  const ItemPtr root(cbor_load(reinterpret_cast<cbor_data>(cbor.data()), length, &loaded));
  if (loaded.error.code != CBOR_ERR_NONE || root == nullptr) {
    if (loaded.error.code == CBOR_ERR_NOTENOUGHDATA) {
      return CborErrorAt("truncated input", loaded.error.position);
    }
    if (loaded.error.code == CBOR_ERR_MEMERROR) {
      return Status::Unavailable("out of memory decoding CBOR");
    }
    if (loaded.error.code == CBOR_ERR_SYNTAXERROR) {
      return CborErrorAt("invalid item (text not UTF-8, or mixed string chunks)",
                         loaded.error.position);
    }
    return CborErrorAt("malformed item", loaded.error.position);
  }
  const cbor_item_t* top = root.get();
  ItemPtr untagged;
  while (cbor_isa_tag(top) && cbor_tag_value(top) == kTagSelfDescribe) {
    untagged.reset(cbor_tag_item(top));
    top = untagged.get();
  }
  if (!cbor_isa_map(top)) return CborError("top level is not a map");
  std::string json;
  json.reserve(length + length / 3 + 16);
  SLUICE_TRY(AppendJson(top, 1, &json));
  return json;
}

Result<std::string> JsonToCbor(std::string_view json, const TranscodeHints& hints) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (const auto error = parser.parse(json.data(), json.size()).get(root); error) {
    return JsonError(simdjson::error_message(error));
  }
  if (root.type() != simdjson::dom::element_type::OBJECT) {
    return JsonError("top level is not an object");
  }
  SLUICE_ASSIGN_OR_RETURN(const ItemPtr item, BuildItem(root, "", Hint::kNone, 1, hints));
  unsigned char* buffer = nullptr;
  size_t capacity = 0;
  const size_t written = cbor_serialize_alloc(item.get(), &buffer, &capacity);
  const std::unique_ptr<unsigned char, decltype(&std::free)> owned(buffer, &std::free);
  if (written == 0) return Status::Unavailable("out of memory encoding CBOR");
  return std::string(reinterpret_cast<const char*>(buffer), written);
}

}  // namespace sluice::kinesis
