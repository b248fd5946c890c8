// SPDX-License-Identifier: Apache-2.0
// Generators of record batches for tests: deterministic payloads that identify their record.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "log/base/types.h"
#include "log/log.h"

namespace sluice::testing {

// A batch of `count` records whose values are "v<tag>-<i>" padded to `value_bytes`, keys
// "k<i>", timestamps `ts` + i.
std::string MakeBatch(uint64_t tag, uint32_t count, size_t value_bytes = 16,
                      TimestampMs ts = 1'700'000'000'000);

// Every record value read from `log` starting at `from`, in order (reading up to its written
// watermark). Fails the current test on a read error.
std::vector<std::string> ReadAllValues(const log::Log& log, SequenceNumber from = SequenceNumber());

// Keeps `log` open and unclosed until the process exits, as a killed process leaves its files:
// no Close, no final sync. It stays reachable, so LeakSanitizer does not report it.
void Abandon(std::unique_ptr<log::Log> log);

// The value MakeBatch gives record `i` of batch `tag` (without padding).
std::string ValueName(uint64_t tag, uint32_t i);

}  // namespace sluice::testing
