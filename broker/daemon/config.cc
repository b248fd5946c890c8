// SPDX-License-Identifier: Apache-2.0
#include "broker/daemon/config.h"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <toml++/toml.h>

#include "broker/native_frame.h"

namespace sluice::daemon {
namespace {

// Every setting has one TOML key and one flag ("--" + key with '-' for '_'); both go through
// the same Apply function on the value's text, so flags and files validate identically.
enum class Kind { kString, kInteger };

struct Key {
  std::string_view name;
  Kind kind;
  const char* metavar;  // For --help.
  Status (*apply)(std::string_view text, DaemonConfig* config);
  std::string (*show)(const DaemonConfig& config);  // For --help's defaults and DescribeConfig.
  const char* help;
};

std::string Quote(std::string_view text) { return "'" + std::string(text) + "'"; }

// A decimal integer in [min, max], nothing else (no sign, spaces or suffix).
Result<uint64_t> ParseUint(std::string_view text, uint64_t min, uint64_t max) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v < min || v > max) {
    return Status::InvalidArgument("must be an integer in " + std::to_string(min) + ".." +
                                   std::to_string(max) + ", got " + Quote(text));
  }
  return v;
}

Status ApplyDataDir(std::string_view text, DaemonConfig* c) {
  if (text.empty()) return Status::InvalidArgument("must not be empty");
  c->data_dir = std::string(text);
  return Status::OK();
}

template <HostPort DaemonConfig::*kField>
Status ApplyAddr(std::string_view text, DaemonConfig* c) {
  SLUICE_ASSIGN_OR_RETURN(c->*kField, HostPort::Parse(text));
  return Status::OK();
}

Status ApplyFsync(std::string_view text, DaemonConfig* c) {
  SLUICE_ASSIGN_OR_RETURN(c->fsync, log::Durability::Parse(text));
  return Status::OK();
}

Status ApplyThreads(std::string_view text, DaemonConfig* c) {
  SLUICE_ASSIGN_OR_RETURN(uint64_t v, ParseUint(text, 0, kMaxThreads));
  c->threads = static_cast<uint32_t>(v);
  return Status::OK();
}

Status ApplyMaxRecordBytes(std::string_view text, DaemonConfig* c) {
  SLUICE_ASSIGN_OR_RETURN(c->max_record_bytes, ParseUint(text, 1, kMaxRecordBytesLimit));
  return Status::OK();
}

Status ApplyIdleTimeout(std::string_view text, DaemonConfig* c) {
  SLUICE_ASSIGN_OR_RETURN(uint64_t v, ParseUint(text, 1, kMaxIdleTimeoutMs));
  c->idle_timeout_ms = static_cast<int64_t>(v);
  return Status::OK();
}

Status ApplyMaxConnectionBytes(std::string_view text, DaemonConfig* c) {
  SLUICE_ASSIGN_OR_RETURN(c->max_connection_bytes,
                          ParseUint(text, kMinConnectionBytes, kMaxConnectionBytes));
  return Status::OK();
}

Status ApplyIteratorTtl(std::string_view text, DaemonConfig* c) {
  SLUICE_ASSIGN_OR_RETURN(uint64_t v, ParseUint(text, 1, kMaxIteratorTtlMs));
  c->iterator_ttl_ms = static_cast<int64_t>(v);
  return Status::OK();
}

constexpr Key kKeys[] = {
    {"data_dir", Kind::kString, "DIR", ApplyDataDir,
     [](const DaemonConfig& c) { return c.data_dir; }, "directory of the metadata and shard logs"},
    {"native_addr", Kind::kString, "HOST:PORT", ApplyAddr<&DaemonConfig::native_addr>,
     [](const DaemonConfig& c) { return c.native_addr.ToString(); },
     "native protocol listener; [IPV6]:PORT, port 0 = any free port"},
    {"kinesis_addr", Kind::kString, "HOST:PORT", ApplyAddr<&DaemonConfig::kinesis_addr>,
     [](const DaemonConfig& c) { return c.kinesis_addr.ToString(); },
     "Kinesis-compatible HTTP API listener"},
    {"metrics_addr", Kind::kString, "HOST:PORT", ApplyAddr<&DaemonConfig::metrics_addr>,
     [](const DaemonConfig& c) { return c.metrics_addr.ToString(); },
     "Prometheus /metrics listener"},
    {"fsync", Kind::kString, "always|interval:MS|never", ApplyFsync,
     [](const DaemonConfig& c) { return c.fsync.ToString(); }, "when appends are acknowledged"},
    {"threads", Kind::kInteger, "N", ApplyThreads,
     [](const DaemonConfig& c) { return std::to_string(c.threads); },
     "reactor threads, 0..1024; 0 = one per core"},
    {"max_record_bytes", Kind::kInteger, "BYTES", ApplyMaxRecordBytes,
     [](const DaemonConfig& c) { return std::to_string(c.max_record_bytes); },
     "largest record accepted, 1..10485760"},
    {"idle_timeout_ms", Kind::kInteger, "MS", ApplyIdleTimeout,
     [](const DaemonConfig& c) { return std::to_string(c.idle_timeout_ms); },
     "close connections idle this long"},
    {"max_connection_bytes", Kind::kInteger, "BYTES", ApplyMaxConnectionBytes,
     [](const DaemonConfig& c) { return std::to_string(c.max_connection_bytes); },
     "per-connection memory before reading pauses"},
    {"iterator_ttl_ms", Kind::kInteger, "MS", ApplyIteratorTtl,
     [](const DaemonConfig& c) { return std::to_string(c.iterator_ttl_ms); },
     "how long a shard iterator stays valid (for tests and operators)"},
};

std::string FlagName(std::string_view key) {
  std::string flag = "--" + std::string(key);
  for (char& ch : flag) {
    if (ch == '_') ch = '-';
  }
  return flag;
}

const char* TomlTypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "a date or time";
  }
}

Status LoadConfigFile(const std::string& path, DaemonConfig* config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::InvalidArgument("--config: cannot read " + Quote(path) + ": " +
                                   std::strerror(errno));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::InvalidArgument("--config: cannot read " + Quote(path));
  config->config_file = path;
  return ApplyTomlConfig(text, path, config);
}

}  // namespace

Result<HostPort> HostPort::Parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("expected HOST:PORT or [IPV6]:PORT (" + std::string(why) +
                                   "), got " + Quote(text));
  };
  HostPort hp;
  std::string_view port;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("no closing ']'");
    hp.host = std::string(text.substr(1, close - 1));
    if (close + 1 >= text.size() || text[close + 1] != ':') return bad("no ':' after ']'");
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("no port");
    hp.host = std::string(text.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) return bad("IPv6 hosts need brackets");
    port = text.substr(colon + 1);
  }
  if (hp.host.empty()) return bad("empty host");
  for (char ch : hp.host) {
    if (ch == '[' || ch == ']' || ch == '/' || static_cast<unsigned char>(ch) <= ' ') {
      return bad("bad character in host");
    }
  }
  uint32_t p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p > 65535) {
    return bad("port must be 0..65535");
  }
  hp.port = static_cast<uint16_t>(p);
  return hp;
}

std::string HostPort::ToString() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

Status ApplyTomlConfig(std::string_view toml_text, std::string_view origin, DaemonConfig* config) {
  toml::table table;
  try {
    table = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    // toml++ reports syntax errors only by exception; they stop here.
    const auto& begin = e.source().begin;
    return Status::InvalidArgument(std::string(origin) + ":" + std::to_string(begin.line) + ":" +
                                   std::to_string(begin.column) + ": " +
                                   std::string(e.description()));
  }
  for (auto&& [name, node] : table) {
    const std::string where = std::string(origin) + ": key " + Quote(name.str());
    const Key* key = nullptr;
    for (const Key& k : kKeys) {
      if (k.name == name.str()) key = &k;
    }
    if (key == nullptr) return Status::InvalidArgument(where + ": unknown key");
    std::string text;
    if (key->kind == Kind::kString && node.is_string()) {
      text = node.as_string()->get();
    } else if (key->kind == Kind::kInteger && node.is_integer()) {
      text = std::to_string(node.as_integer()->get());
    } else {
      return Status::InvalidArgument(where + ": must be " +
                                     (key->kind == Kind::kString ? "a string" : "an integer") +
                                     ", got " + TomlTypeName(node.type()));
    }
    SLUICE_TRY(key->apply(text, config).WithContext(where));
  }
  return Status::OK();
}

Result<DaemonConfig> ParseDaemonConfig(const std::vector<std::string>& args) {
  CLI::App app{"sluiced: the Sluice event-stream server", "sluiced"};
  app.set_help_flag("-h,--help", "print this help and exit");
  bool version = false;
  app.add_flag("--version", version, "print the version and exit");
  std::string config_path;
  CLI::Option* config_opt =
      app.add_option("--config", config_path, "TOML file with the same keys (flags win)")
          ->type_name("FILE");
  std::string values[std::size(kKeys)];
  CLI::Option* opts[std::size(kKeys)];
  for (size_t i = 0; i < std::size(kKeys); ++i) {
    opts[i] = app.add_option(
        FlagName(kKeys[i].name), values[i],
        std::string(kKeys[i].help) + " (default " + kKeys[i].show(DaemonConfig{}) + ")");
    opts[i]->type_name(kKeys[i].metavar);
  }

  DaemonConfig config;
  try {
    // CLI11 consumes a reversed argument vector.
    app.parse(std::vector<std::string>(args.rbegin(), args.rend()));
  } catch (const CLI::CallForHelp&) {
    config.help_text = app.help();
    return config;
  } catch (const CLI::ParseError& e) {
    // CLI11 reports errors only by exception; they stop here.
    return Status::InvalidArgument(e.what());
  }
  if (version) {
    config.help_text = "sluiced " + std::string(kSluicedVersion) + " (native protocol v" +
                       std::to_string(broker::native::kProtocolVersion) + ")\n";
    return config;
  }
  if (config_opt->count() > 0) SLUICE_TRY(LoadConfigFile(config_path, &config));
  for (size_t i = 0; i < std::size(kKeys); ++i) {
    if (opts[i]->count() == 0) continue;
    SLUICE_TRY(kKeys[i].apply(values[i], &config).WithContext(FlagName(kKeys[i].name)));
  }
  // A request carrying one largest record must fit a connection's memory budget.
  if (config.max_connection_bytes < config.max_record_bytes + kFrameOverheadBytes) {
    return Status::InvalidArgument(
        "max_connection_bytes (" + std::to_string(config.max_connection_bytes) +
        ") must exceed max_record_bytes (" + std::to_string(config.max_record_bytes) +
        ") by at least " + std::to_string(kFrameOverheadBytes) + " bytes");
  }
  return config;
}

Result<DaemonConfig> ParseDaemonConfig(int argc, const char* const* argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return ParseDaemonConfig(args);
}

std::string DescribeConfig(const DaemonConfig& c) {
  std::string out;
  for (const Key& k : kKeys) {
    out += std::string(k.name) + "=" + k.show(c) + " ";
  }
  return out + "config=" + (c.config_file.empty() ? "(none)" : c.config_file);
}

}  // namespace sluice::daemon
