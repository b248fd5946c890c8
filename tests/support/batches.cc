// SPDX-License-Identifier: Apache-2.0
#include "tests/support/batches.h"

#include <gtest/gtest.h>

namespace sluice::testing {

std::string ValueName(uint64_t tag, uint32_t i) {
  // Built by appending: GCC 12 reports a false -Wrestrict for "literal" + std::string at -O3.
  std::string s("v");
  s += std::to_string(tag);
  s += '-';
  s += std::to_string(i);
  return s;
}

std::string MakeBatch(uint64_t tag, uint32_t count, size_t value_bytes, TimestampMs ts) {
  log::RecordBatchBuilder b;
  for (uint32_t i = 0; i < count; ++i) {
    std::string v = ValueName(tag, i);
    if (v.size() < value_bytes) v.resize(value_bytes, '.');
    std::string key("k");
    key += std::to_string(i);
    b.Add(key, v, ts + i);
  }
  auto out = b.Finish();
  SLUICE_CHECK(out.ok(), "MakeBatch");
  return std::move(out).value();
}

void Abandon(std::unique_ptr<log::Log> log) {
  static auto* graveyard = new std::vector<std::unique_ptr<log::Log>>();  // Never destroyed.
  graveyard->push_back(std::move(log));
}

std::vector<std::string> ReadAllValues(const log::Log& log, SequenceNumber from) {
  std::vector<std::string> values;
  std::string scratch;
  SequenceNumber upto(log.written().value());
  while (from < upto) {
    auto r = log.Read(from, log::ReadOptions{.max_bytes = 1 << 20, .upto = upto});
    if (!r.ok()) {
      ADD_FAILURE() << "read at " << from << ": " << r.status().ToString();
      break;
    }
    if (r->batch_count == 0) break;
    for (const log::RecordBatchView& b : r->Batches()) {
      auto recs = b.DecodeRecords(&scratch);
      if (!recs.ok()) {
        ADD_FAILURE() << recs.status().ToString();
        return values;
      }
      for (const log::Record& rec : *recs) {
        if (rec.offset < from) continue;
        std::string v(rec.value);
        values.push_back(v.substr(0, v.find('.')));
      }
    }
    from = r->next;
  }
  return values;
}

}  // namespace sluice::testing
