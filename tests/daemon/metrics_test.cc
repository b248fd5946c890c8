// SPDX-License-Identifier: Apache-2.0
// The Prometheus registry: exact exposition text, escaping, collectors, EngineMetrics, and
// exact totals under concurrent updates (this binary is labelled "concurrency": TSan runs it).
#include "broker/daemon/metrics.h"

#include <fcntl.h>
#include <limits>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsRegistryTest, RendersExactText) {
  MetricsRegistry registry;
  auto* requests = registry.AddCounter("app_requests_total", "Requests served.", {"path"});
  auto* temp = registry.AddGauge("app_temperature", "Current temperature.");
  auto* latency = registry.AddHistogram("app_latency_seconds", "Request latency.", {0.1, 0.5, 1});
  registry.AddCounter("app_unused_total", "Never incremented.", {"x"});  // No series: omitted.
  requests->WithLabels({"/b"})->Inc(2);
  requests->WithLabels({"/a"})->Inc();
  temp->WithLabels({})->Set(-3);
  Histogram* h = latency->WithLabels({});
  h->Observe(0.0625);
  h->Observe(0.5);  // le is inclusive.
  h->Observe(0.75);
  h->Observe(2.5);
  EXPECT_EQ(registry.Render(),
            "# HELP app_requests_total Requests served.\n"
            "# TYPE app_requests_total counter\n"
            "app_requests_total{path=\"/a\"} 1\n"
            "app_requests_total{path=\"/b\"} 2\n"
            "# HELP app_temperature Current temperature.\n"
            "# TYPE app_temperature gauge\n"
            "app_temperature -3\n"
            "# HELP app_latency_seconds Request latency.\n"
            "# TYPE app_latency_seconds histogram\n"
            "app_latency_seconds_bucket{le=\"0.1\"} 1\n"
            "app_latency_seconds_bucket{le=\"0.5\"} 2\n"
            "app_latency_seconds_bucket{le=\"1\"} 3\n"
            "app_latency_seconds_bucket{le=\"+Inf\"} 4\n"
            "app_latency_seconds_sum 3.8125\n"
            "app_latency_seconds_count 4\n");
}

TEST(MetricsRegistryTest, FormatsNumbersLikeGoClients) {
  MetricsText text;
  text.BeginFamily("n", "n", MetricType::kGauge);
  for (double v : {0.0, 1.0, -2.5, 0.0005, 0.0001, 0.00005, 123456789.0, 1e20, 1e21, 0.1 + 0.2}) {
    text.Sample("n", {}, v);
  }
  text.Sample("n", {}, uint64_t{18446744073709551615u});
  text.Sample("n", {}, int64_t{-9});
  EXPECT_EQ(text.text(),
            "# HELP n n\n# TYPE n gauge\n"
            "n 0\nn 1\nn -2.5\nn 0.0005\nn 0.0001\nn 5e-05\nn 123456789\n"
            "n 100000000000000000000\nn 1e+21\nn 0.30000000000000004\n"
            "n 18446744073709551615\nn -9\n");
}

TEST(MetricsRegistryTest, SameLabelsGiveSameSeries) {
  MetricsRegistry registry;
  auto* f = registry.AddCounter("c_total", "c", {"a", "b"});
  EXPECT_EQ(f->WithLabels({"1", "2"}), f->WithLabels({"1", "2"}));
  EXPECT_NE(f->WithLabels({"1", "2"}), f->WithLabels({"2", "1"}));
}

TEST(MetricsRegistryTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  registry.AddGauge("g", "line one\nback\\slash \"quoted\"", {"v"})
      ->WithLabels({"a\"b\\c\nd"})
      ->Set(1);
  EXPECT_EQ(registry.Render(),
            "# HELP g line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE g gauge\n"
            "g{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsRegistryTest, HistogramWithLabelsAndSpecialValues) {
  MetricsRegistry registry;
  auto* f = registry.AddHistogram("h", "h", {0.00005, 2}, {"shard"});
  f->WithLabels({"0"})->Observe(0.00001);
  MetricsText text;
  text.BeginFamily("x", "x", MetricType::kGauge);
  text.Sample("x", {{"k", "inf"}}, std::numeric_limits<double>::infinity());
  text.Sample("x", {{"k", "nan"}}, std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(registry.Render() + text.text(),
            "# HELP h h\n"
            "# TYPE h histogram\n"
            "h_bucket{shard=\"0\",le=\"5e-05\"} 1\n"
            "h_bucket{shard=\"0\",le=\"2\"} 1\n"
            "h_bucket{shard=\"0\",le=\"+Inf\"} 1\n"
            "h_sum{shard=\"0\"} 1e-05\n"
            "h_count{shard=\"0\"} 1\n"
            "# HELP x x\n"
            "# TYPE x gauge\n"
            "x{k=\"inf\"} +Inf\n"
            "x{k=\"nan\"} NaN\n");
}

TEST(MetricsRegistryTest, CollectorsWriteAfterFamiliesOnEveryRender) {
  MetricsRegistry registry;
  registry.AddGauge("first", "f")->WithLabels({})->Set(1);
  int calls = 0;
  registry.AddCollector([&](MetricsText& out) {
    ++calls;
    out.WriteGauge("sluice_open_fds", "Open file descriptors.", 12);
    HistogramSnapshot h{{0.001}, {3, 1}, 0.5};
    out.BeginFamily("sluice_fsync_latency_seconds", "fdatasync latency.", MetricType::kHistogram);
    out.WriteHistogram("sluice_fsync_latency_seconds", {}, h);
  });
  const std::string expected =
      "# HELP first f\n"
      "# TYPE first gauge\n"
      "first 1\n"
      "# HELP sluice_open_fds Open file descriptors.\n"
      "# TYPE sluice_open_fds gauge\n"
      "sluice_open_fds 12\n"
      "# HELP sluice_fsync_latency_seconds fdatasync latency.\n"
      "# TYPE sluice_fsync_latency_seconds histogram\n"
      "sluice_fsync_latency_seconds_bucket{le=\"0.001\"} 3\n"
      "sluice_fsync_latency_seconds_bucket{le=\"+Inf\"} 4\n"
      "sluice_fsync_latency_seconds_sum 0.5\n"
      "sluice_fsync_latency_seconds_count 4\n";
  EXPECT_EQ(registry.Render(), expected);
  EXPECT_EQ(registry.Render(), expected);
  EXPECT_EQ(calls, 2);
}

TEST(EngineMetricsTest, RecordsEveryCallback) {
  MetricsRegistry registry;
  EngineMetrics m(&registry);
  std::string text = registry.Render();
  // Unlabelled families show from the start; labelled ones with their first series.
  EXPECT_THAT(text, HasSubstr("sluice_connections 0\n"));
  EXPECT_THAT(text, HasSubstr("sluice_append_latency_seconds_count 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("sluice_records_in_total")));

  m.OnAppend("orders", 3, /*batches=*/2, /*records=*/10, /*bytes=*/1000, /*latency_ns=*/300'000);
  m.OnAppend("orders", 3, 1, 5, 500, 2'000'000'000);
  m.OnRead("orders", 3, 7, 700);
  m.OnLag("orders", 3, 42);
  m.OnLag("orders", 3, 40);  // The latest report wins.
  m.OnConnectionOpened();
  m.OnConnectionOpened();
  m.OnConnectionClosed();
  m.OnError(1);
  m.OnError(1);
  m.OnError(102);
  m.OnError(999);
  text = registry.Render();
  for (const char* line : {
           "sluice_records_in_total{stream=\"orders\",shard=\"3\"} 15\n",
           "sluice_bytes_in_total{stream=\"orders\",shard=\"3\"} 1500\n",
           "sluice_records_out_total{stream=\"orders\",shard=\"3\"} 7\n",
           "sluice_bytes_out_total{stream=\"orders\",shard=\"3\"} 700\n",
           "sluice_consumer_lag_records{stream=\"orders\",shard=\"3\"} 40\n",
           "sluice_connections 1\n",
           "sluice_errors_total{code=\"NotFound\"} 2\n",
           "sluice_errors_total{code=\"FrameTooLarge\"} 1\n",
           "sluice_errors_total{code=\"999\"} 1\n",
           "sluice_append_latency_seconds_bucket{le=\"0.00025\"} 0\n",
           "sluice_append_latency_seconds_bucket{le=\"0.0005\"} 1\n",
           "sluice_append_latency_seconds_bucket{le=\"1\"} 1\n",
           "sluice_append_latency_seconds_bucket{le=\"+Inf\"} 2\n",
           "sluice_append_latency_seconds_count 2\n",
           "sluice_group_commit_batches_bucket{le=\"1\"} 1\n",
           "sluice_group_commit_batches_bucket{le=\"2\"} 2\n",
           "sluice_group_commit_batches_sum 3\n",
           "# TYPE sluice_append_latency_seconds histogram\n",
           "# TYPE sluice_consumer_lag_records gauge\n",
           "# TYPE sluice_records_in_total counter\n",
       }) {
    EXPECT_THAT(text, HasSubstr(line));
  }
}

TEST(EngineMetricsTest, TwoInstancesOnOneThreadKeepSeparateSeries) {
  // The per-thread series cache is keyed by instance.
  MetricsRegistry r1, r2;
  EngineMetrics m1(&r1), m2(&r2);
  m1.OnRead("s", 0, 1, 1);
  m2.OnRead("s", 0, 5, 5);
  EXPECT_THAT(r1.Render(), HasSubstr("sluice_records_out_total{stream=\"s\",shard=\"0\"} 1\n"));
  EXPECT_THAT(r2.Render(), HasSubstr("sluice_records_out_total{stream=\"s\",shard=\"0\"} 5\n"));
}

TEST(EngineMetricsTest, ConcurrentUpdatesGiveExactTotals) {
  MetricsRegistry registry;
  EngineMetrics m(&registry);
  constexpr int kThreads = 4;
  constexpr int kIterations = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kIterations; ++i) {
        // Every thread hits a shared shard and one of its own; the first call for each creates
        // the series while others may be creating theirs.
        m.OnAppend("s", 0, 1, 2, 10, 1000);
        m.OnAppend("s", static_cast<uint32_t>(1 + t), 1, 1, 1, 1000);
        m.OnConnectionOpened();
        m.OnConnectionClosed();
        if (i % 100 == 0) m.OnError(7);
      }
    });
  }
  // Scrapes race the updates.
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(registry.Render().empty());
  for (auto& th : threads) th.join();
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("sluice_records_in_total{stream=\"s\",shard=\"0\"} " +
                              std::to_string(kThreads * kIterations * 2) + "\n"));
  EXPECT_THAT(text, HasSubstr("sluice_bytes_in_total{stream=\"s\",shard=\"0\"} " +
                              std::to_string(kThreads * kIterations * 10) + "\n"));
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_THAT(text,
                HasSubstr("sluice_records_in_total{stream=\"s\",shard=\"" + std::to_string(1 + t) +
                          "\"} " + std::to_string(kIterations) + "\n"));
  }
  EXPECT_THAT(text, HasSubstr("sluice_append_latency_seconds_count " +
                              std::to_string(kThreads * kIterations * 2) + "\n"));
  EXPECT_THAT(text, HasSubstr("sluice_connections 0\n"));
  EXPECT_THAT(text, HasSubstr("sluice_errors_total{code=\"Unavailable\"} " +
                              std::to_string(kThreads * kIterations / 100) + "\n"));
}

TEST(ProcessMetricsTest, CountOpenFdsSeesNewDescriptors) {
  auto before = CountOpenFds();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_GE(*before, 3u);  // stdin, stdout, stderr at least.
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto during = CountOpenFds();
  close(fd);
  ASSERT_TRUE(during.ok());
  EXPECT_EQ(*during, *before + 1);
}

}  // namespace
}  // namespace sluice::daemon
