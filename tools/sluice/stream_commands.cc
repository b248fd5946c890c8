// SPDX-License-Identifier: Apache-2.0
// sluice stream create | delete | list | describe | split | merge | scale.
#include <charconv>
#include <cstdio>
#include <iostream>
#include <string>

#include "broker/client/admin.h"
#include "broker/shard_name.h"
#include "tools/sluice/commands.h"
#include "tools/sluice/output.h"

namespace sluice::tools {
namespace {

const char* StatusName(broker::native::StreamStatus s) {
  switch (s) {
    case broker::native::StreamStatus::kCreating:
      return "CREATING";
    case broker::native::StreamStatus::kActive:
      return "ACTIVE";
    case broker::native::StreamStatus::kDeleting:
      return "DELETING";
    case broker::native::StreamStatus::kUpdating:
      return "UPDATING";
  }
  return "UNKNOWN";
}

// Runs `fn(admin)` on a fresh connection; returns its error's exit code or 0.
template <typename Fn>
int WithAdmin(const CliContext& ctx, Fn fn) {
  auto conn = client::Connection::Open(ctx.connection);
  if (!conn.ok()) return ReportError(conn.status());
  client::Admin admin(conn->get());
  return fn(admin);
}

}  // namespace

int ReportError(const Status& status) {
  std::fprintf(stderr, "sluice: %s\n", status.ToString().c_str());
  return 1;
}

Result<ShardId> ParseShardArg(const std::string& text) {
  if (auto named = broker::ParseShardName(text)) return *named;
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return Status::InvalidArgument("bad shard '" + text +
                                   "': expected a number or shardId-000000000000");
  }
  return ShardId(v);
}

int StreamCreate(const CliContext& ctx, const std::string& name, uint32_t shards,
                 uint32_t retention_hours) {
  return WithAdmin(ctx, [&](client::Admin& admin) {
    if (Status s = admin.CreateStream(name, shards, retention_hours); !s.ok()) {
      return ReportError(s);
    }
    if (ctx.json) {
      std::cout << "{\"stream\":" << JsonString(name) << ",\"shards\":" << shards
                << ",\"retention_hours\":" << retention_hours << "}\n";
    } else {
      std::cout << "created stream " << name << " with " << shards << " shard(s), retention "
                << retention_hours << " h\n";
    }
    return 0;
  });
}

int StreamDelete(const CliContext& ctx, const std::string& name) {
  return WithAdmin(ctx, [&](client::Admin& admin) {
    if (Status s = admin.DeleteStream(name); !s.ok()) return ReportError(s);
    if (ctx.json) {
      std::cout << "{\"stream\":" << JsonString(name) << ",\"deleted\":true}\n";
    } else {
      std::cout << "deleted stream " << name << "\n";
    }
    return 0;
  });
}

int StreamList(const CliContext& ctx) {
  return WithAdmin(ctx, [&](client::Admin& admin) {
    auto names = admin.ListStreams();
    if (!names.ok()) return ReportError(names.status());
    if (ctx.json) {
      std::cout << "{\"streams\":[";
      for (size_t i = 0; i < names->size(); ++i) {
        std::cout << (i ? "," : "") << JsonString((*names)[i]);
      }
      std::cout << "]}\n";
    } else {
      for (const auto& n : *names) std::cout << n << "\n";
    }
    return 0;
  });
}

int StreamDescribe(const CliContext& ctx, const std::string& name) {
  return WithAdmin(ctx, [&](client::Admin& admin) {
    auto d = admin.DescribeStream(name);
    if (!d.ok()) return ReportError(d.status());
    size_t open = 0;
    for (const auto& s : d->shards) open += client::IsClosed(s) ? 0 : 1;
    if (ctx.json) {
      std::cout << "{\"stream\":" << JsonString(d->stream) << ",\"status\":\""
                << StatusName(d->status) << "\",\"retention_hours\":" << d->retention_hours
                << ",\"open_shards\":" << open << ",\"shards\":[";
      for (size_t i = 0; i < d->shards.size(); ++i) {
        const auto& s = d->shards[i];
        std::cout << (i ? "," : "") << "{\"shard_id\":\"" << broker::ShardName(ShardId(s.shard_id))
                  << "\",\"parent_shards\":[";
        for (size_t k = 0; k < s.parent_shards.size(); ++k) {
          std::cout << (k ? "," : "") << "\"" << broker::ShardName(ShardId(s.parent_shards[k]))
                    << "\"";
        }
        std::cout << "],\"starting_hash_key\":\"" << s.starting_hash_key
                  << "\",\"ending_hash_key\":\"" << s.ending_hash_key
                  << "\",\"starting_sequence_number\":\"" << s.starting_sequence
                  << "\",\"ending_sequence_number\":"
                  << (client::IsClosed(s) ? "\"" + s.ending_sequence + "\"" : "null")
                  << ",\"open\":" << (client::IsClosed(s) ? "false" : "true") << "}";
      }
      std::cout << "]}\n";
      return 0;
    }
    std::cout << "stream " << d->stream << "  " << StatusName(d->status) << "  retention "
              << d->retention_hours << " h  " << open << " open shard(s) of " << d->shards.size()
              << "\n";
    for (const auto& s : d->shards) {
      std::cout << "  " << broker::ShardName(ShardId(s.shard_id))
                << (client::IsClosed(s) ? "  closed" : "  open  ");
      std::cout << "  hash keys " << s.starting_hash_key << ".." << s.ending_hash_key;
      if (!s.parent_shards.empty()) {
        std::cout << "  parents";
        for (uint32_t p : s.parent_shards) std::cout << " " << broker::ShardName(ShardId(p));
      }
      std::cout << "\n    sequence numbers " << s.starting_sequence << ".."
                << (client::IsClosed(s) ? s.ending_sequence : "") << "\n";
    }
    return 0;
  });
}

// Resharding: each is one atomic change on the server; `describe` shows the result.
int StreamSplit(const CliContext& ctx, const std::string& name, const std::string& shard,
                const std::string& new_starting_hash_key) {
  auto id = ParseShardArg(shard);
  if (!id.ok()) return ReportError(id.status());
  return WithAdmin(ctx, [&](client::Admin& admin) {
    if (Status s = admin.SplitShard(name, *id, new_starting_hash_key); !s.ok()) {
      return ReportError(s);
    }
    std::cout << (ctx.json ? "{\"stream\":" + JsonString(name) + ",\"split\":true}\n"
                           : "split " + broker::ShardName(*id) + " of " + name + "\n");
    return 0;
  });
}

int StreamMerge(const CliContext& ctx, const std::string& name, const std::string& shard,
                const std::string& adjacent_shard) {
  auto id = ParseShardArg(shard);
  if (!id.ok()) return ReportError(id.status());
  auto adjacent = ParseShardArg(adjacent_shard);
  if (!adjacent.ok()) return ReportError(adjacent.status());
  return WithAdmin(ctx, [&](client::Admin& admin) {
    if (Status s = admin.MergeShards(name, *id, *adjacent); !s.ok()) return ReportError(s);
    std::cout << (ctx.json ? "{\"stream\":" + JsonString(name) + ",\"merged\":true}\n"
                           : "merged " + broker::ShardName(*id) + " and " +
                                 broker::ShardName(*adjacent) + " of " + name + "\n");
    return 0;
  });
}

int StreamScale(const CliContext& ctx, const std::string& name, uint32_t count) {
  return WithAdmin(ctx, [&](client::Admin& admin) {
    if (Status s = admin.UpdateShardCount(name, count); !s.ok()) return ReportError(s);
    std::cout << (ctx.json ? "{\"stream\":" + JsonString(name) +
                                 ",\"target_shard_count\":" + std::to_string(count) + "}\n"
                           : "scaled " + name + " to " + std::to_string(count) + " shard(s)\n");
    return 0;
  });
}

}  // namespace sluice::tools
