// SPDX-License-Identifier: Apache-2.0
// sluiced: the Sluice daemon. Opens the broker on --data-dir, serves the native protocol
// through the shard-per-core engine and Prometheus metrics over HTTP, enforces retention, and
// on SIGTERM/SIGINT stops accepting, finishes in-flight work, syncs and exits 0.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <signal.h>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "broker/broker.h"
#include "broker/daemon/config.h"
#include "broker/daemon/metrics.h"
#include "broker/daemon/metrics_server.h"
#include "broker/engine/engine.h"
#include "log/io/file.h"

namespace sluice::daemon {
namespace {

constexpr auto kRetentionPeriod = std::chrono::minutes(1);

// One line per event: "ts=<RFC 3339 UTC> level=<l> event=<e> <key=value ...>".
void LogLine(std::string_view level, std::string_view event, std::string_view fields = {}) {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  ::gmtime_r(&ts.tv_sec, &utc);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &utc);
  std::fprintf(stderr, "ts=%s.%03ldZ level=%.*s event=%.*s%s%.*s\n", when, ts.tv_nsec / 1'000'000,
               static_cast<int>(level.size()), level.data(), static_cast<int>(event.size()),
               event.data(), fields.empty() ? "" : " ", static_cast<int>(fields.size()),
               fields.data());
}

// A logfmt value: quoted when it has spaces, quotes or '='.
std::string Quote(std::string_view v) {
  if (v.find_first_of(" \"=\t\n") == std::string_view::npos && !v.empty()) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out + "\"";
}

// The node's iterator secret, kept in <data_dir>/node.secret (mode 0600) so that shard
// iterators stay valid across restarts of this node. Created on first start.
Result<std::string> LoadOrCreateSecret(const std::string& data_dir) {
  const std::string path = data_dir + "/node.secret";
  std::string secret;
  if (int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    ::close(fd);
    if (n < static_cast<ssize_t>(broker::kIteratorSecretBytes)) {
      return Status::Corruption(path + " is shorter than " +
                                std::to_string(broker::kIteratorSecretBytes) +
                                " bytes; remove it to issue a new secret (old iterators "
                                "become invalid)");
    }
    return std::string(buf, static_cast<size_t>(n));
  }
  if (errno != ENOENT) return Status::IOError("reading " + path + ": " + std::strerror(errno));
  secret = broker::IteratorCodec::NewSecret();
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("creating " + tmp + ": " + std::strerror(errno));
  const bool ok =
      ::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size()) &&
      ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IOError("writing " + path + ": " + std::strerror(errno));
  }
  return secret;
}

// Scrape-time metrics that come from the shard logs.
void CollectShardMetrics(broker::Broker* broker, MetricsText& out) {
  out.BeginFamily("sluice_segments", "Segment files per shard log.", MetricType::kGauge);
  for (const broker::StreamSummary& s : broker->ListStreams()) {
    Result<std::shared_ptr<const broker::Stream>> stream = broker->GetStream(s.name);
    if (!stream.ok()) continue;
    for (const auto& [id, shard] : (*stream)->shards()) {
      out.Sample("sluice_segments", {{"stream", s.name}, {"shard", std::to_string(id.value())}},
                 static_cast<uint64_t>(shard->log().segment_count()));
    }
  }
  if (Result<uint64_t> fds = CountOpenFds(); fds.ok()) {
    out.WriteGauge("sluice_open_fds", "File descriptors open in this process.",
                   static_cast<double>(*fds));
  }
}

int Run(const DaemonConfig& cfg) {
  LogLine("info", "starting", DescribeConfig(cfg));
  // Signals are taken by sigwait below; every thread started from here inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto fail = [](std::string_view what, const Status& s) {
    LogLine("error", "failed", "during=" + std::string(what) + " error=" + Quote(s.ToString()));
    return 1;
  };
  Result<std::unique_ptr<log::io::FileSystem>> fs =
      log::io::MakeFileSystem(log::io::Backend::kAuto);
  if (!fs.ok()) return fail("file system", fs.status());
  if (Status s = (*fs)->CreateDirs(cfg.data_dir); !s.ok()) return fail("data dir", s);
  Result<std::string> secret = LoadOrCreateSecret(cfg.data_dir);
  if (!secret.ok()) return fail("iterator secret", secret.status());

  MetricsRegistry registry;
  EngineMetrics engine_metrics(&registry);
  Histogram* fsync_latency =
      registry
          .AddHistogram("sluice_fsync_latency_seconds", "fdatasync time of one group commit.",
                        AppendLatencyBuckets())
          ->WithLabels({});
  Histogram* group_batches =
      registry
          .AddHistogram("sluice_group_commit_size_batches", "Batches written by one group commit.",
                        {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})
          ->WithLabels({});

  broker::BrokerOptions bo;
  bo.log.durability = cfg.fsync;
  bo.max_record_bytes = cfg.max_record_bytes;
  bo.iterator_secret = *secret;
  bo.iterator_ttl_ms = cfg.iterator_ttl_ms;
  bo.log.logger = [](std::string_view line) { LogLine("info", "log", "msg=" + Quote(line)); };
  bo.log.on_group_commit = [fsync_latency, group_batches](const log::GroupCommitInfo& g) {
    group_batches->Observe(static_cast<double>(g.batches));
    if (g.sync_ns > 0) fsync_latency->Observe(static_cast<double>(g.sync_ns) / 1e9);
  };
  Result<std::unique_ptr<broker::Broker>> broker =
      broker::Broker::Open(fs->get(), cfg.data_dir, bo);
  if (!broker.ok()) return fail("opening the broker", broker.status());
  registry.AddCollector([b = broker->get()](MetricsText& out) { CollectShardMetrics(b, out); });

  broker::EngineOptions eo;
  eo.threads = cfg.threads;
  eo.native_host = cfg.native_addr.host;
  eo.native_port = cfg.native_addr.port;
  eo.max_connection_bytes = cfg.max_connection_bytes;
  // A frame must fit in a connection's budget and hold a request with one largest record.
  eo.max_frame_bytes = std::min(broker::native::kDefaultMaxFrameBytes, cfg.max_connection_bytes);
  // ParseDaemonConfig checked max_connection_bytes >= max_record_bytes + kFrameOverheadBytes.
  eo.idle_timeout_ms = cfg.idle_timeout_ms;
  eo.observer = &engine_metrics;
  Result<std::unique_ptr<broker::Engine>> engine = broker::Engine::Start(broker->get(), eo);
  if (!engine.ok()) return fail("starting the native server", engine.status());
  Result<std::unique_ptr<MetricsServer>> metrics = MetricsServer::Start(
      cfg.metrics_addr.host, cfg.metrics_addr.port, [&registry] { return registry.Render(); });
  if (!metrics.ok()) return fail("starting the metrics server", metrics.status());

  // Retention runs in the background, once a minute.
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread retention([&] {
    std::unique_lock<std::mutex> l(mu);
    while (!cv.wait_for(l, kRetentionPeriod, [&] { return stopping; })) {
      l.unlock();
      if (Status s = (*broker)->EnforceRetention(); !s.ok()) {
        LogLine("warn", "retention", "error=" + Quote(s.ToString()));
      }
      l.lock();
    }
  });

  LogLine("info", "ready",
          "native_addr=" + cfg.native_addr.host + ":" + std::to_string((*engine)->native_port()) +
              " metrics_addr=" + cfg.metrics_addr.host + ":" + std::to_string((*metrics)->port()) +
              " threads=" + std::to_string((*engine)->threads()) + " kinesis_api=not_built_yet");
  int sig = 0;
  sigwait(&stop_signals, &sig);
  LogLine("info", "stopping", std::string("signal=") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
  {
    std::lock_guard<std::mutex> l(mu);
    stopping = true;
  }
  cv.notify_all();
  retention.join();
  int rc = 0;
  if (Status s = (*engine)->Stop(); !s.ok()) rc = fail("stopping the engine", s);
  (*metrics)->Stop();
  if (Status s = (*broker)->Close(); !s.ok()) rc = fail("closing the broker", s);
  LogLine("info", "stopped", "exit=" + std::to_string(rc));
  return rc;
}

}  // namespace
}  // namespace sluice::daemon

int main(int argc, char** argv) {
  sluice::Result<sluice::daemon::DaemonConfig> cfg = sluice::daemon::ParseDaemonConfig(argc, argv);
  if (!cfg.ok()) {
    std::fprintf(stderr, "sluiced: %s\n", std::string(cfg.status().message()).c_str());
    return 2;
  }
  if (!cfg->help_text.empty()) {
    std::fputs(cfg->help_text.c_str(), stdout);
    return 0;
  }
  return sluice::daemon::Run(*cfg);
}
