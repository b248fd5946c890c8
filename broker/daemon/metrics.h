// SPDX-License-Identifier: Apache-2.0
// A small Prometheus registry (counters, gauges, fixed-bucket histograms, scrape-time
// collectors) rendered in the text exposition format 0.0.4, and EngineMetrics, the engine's
// observer that feeds it. See broker/daemon/README.md for the metric names.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/engine/engine.h"
#include "log/base/result.h"
#include "log/base/thread_annotations.h"

namespace sluice::daemon {

// (label name, label value) pairs, in output order.
using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kCounter, kGauge, kHistogram };

// A histogram's state: counts[i] observations <= bounds[i] (and > bounds[i-1]); counts.back()
// (one past the bounds) the observations above the last bound. Not cumulative.
struct HistogramSnapshot {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;
  double sum = 0;
};

// One exposition being written. Families must be contiguous: BeginFamily, then its samples;
// each name at most once per exposition. Not thread-safe (one scrape owns it).
class MetricsText {
 public:
  void BeginFamily(std::string_view name, std::string_view help, MetricType type);
  // `name{labels} value`; `name` is the family name plus any suffix (_bucket, _sum, _count).
  void Sample(std::string_view name, const Labels& labels, double value);
  void Sample(std::string_view name, const Labels& labels, uint64_t value);
  void Sample(std::string_view name, const Labels& labels, int64_t value);
  // The _bucket (cumulative, le="+Inf" last), _sum and _count lines of family `name`.
  void WriteHistogram(std::string_view name, const Labels& labels, const HistogramSnapshot& h);
  // A whole gauge family of one unlabelled sample.
  void WriteGauge(std::string_view name, std::string_view help, double value);
  const std::string& text() const { return out_; }

 private:
  void Name(std::string_view name, const Labels& labels);
  std::string out_;
};

// Lock-free metrics: every method is thread-safe and never blocks (relaxed atomics; the
// histogram sum is a CAS loop), so reactor threads may call them.
class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { v_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

class Histogram {
 public:
  // `bounds`: strictly increasing upper bounds, finite (checked).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  // Counts and sum read one by one: a scrape racing Observe may see one without the other.
  HistogramSnapshot Snapshot() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// A metric name with its label names and one series per distinct label values. WithLabels
// takes the family's mutex (creating the series on first use): callers on hot paths keep the
// returned pointer, valid for the registry's lifetime. Thread-safe.
class MetricFamilyBase {
 public:
  MetricFamilyBase(std::string name, std::string help, MetricType type,
                   std::vector<std::string> label_names);
  virtual ~MetricFamilyBase() = default;
  virtual void Render(MetricsText* out) const = 0;
  const std::string& name() const { return name_; }

 protected:
  Labels LabelsFor(const std::vector<std::string>& values) const;
  const std::string name_, help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
};

template <typename M>
class MetricFamily final : public MetricFamilyBase {
 public:
  MetricFamily(std::string name, std::string help, MetricType type,
               std::vector<std::string> label_names, std::vector<double> bounds = {});
  // One value per label name, in order (checked). Never null.
  M* WithLabels(const std::vector<std::string>& values) EXCLUDES(mu_);
  void Render(MetricsText* out) const override EXCLUDES(mu_);

 private:
  const std::vector<double> bounds_;  // Histograms only.
  mutable Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> series_ GUARDED_BY(mu_);
};
extern template class MetricFamily<Counter>;  // Defined in metrics.cc, for these three only.
extern template class MetricFamily<Gauge>;
extern template class MetricFamily<Histogram>;

// Families are added once, at startup (a duplicate or malformed name is checked); Render may
// run concurrently with updates and with adding families or collectors. Thread-safe.
class MetricsRegistry {
 public:
  MetricFamily<Counter>* AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names = {});
  MetricFamily<Gauge>* AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names = {});
  MetricFamily<Histogram>* AddHistogram(std::string name, std::string help,
                                        std::vector<double> bounds,
                                        std::vector<std::string> label_names = {});
  // Called on every Render, after the families, on the scraping thread; it writes whole
  // families (names not used by the registry) and must not block for long.
  void AddCollector(std::function<void(MetricsText&)> collector);
  std::string Render() const;

 private:
  template <typename F>
  F* Add(std::unique_ptr<F> family);
  mutable Mutex mu_;
  std::vector<std::unique_ptr<MetricFamilyBase>> families_ GUARDED_BY(mu_);
  std::vector<std::function<void(MetricsText&)>> collectors_ GUARDED_BY(mu_);
};

// Bucket bounds of sluice_append_latency_seconds: 50 us .. 1 s.
std::vector<double> AppendLatencyBuckets();

// Records what the engine reports into `*registry` (which must outlive it), registering the
// sluice_* families listed in README.md there: one EngineMetrics per registry. Per-(stream, shard)
// series are found through a per-thread cache, so after a thread's first call for a shard the
// hot path touches only atomics; errors (rare) take a family mutex. Thread-safe.
class EngineMetrics final : public broker::EngineObserver {
 public:
  explicit EngineMetrics(MetricsRegistry* registry);
  void OnAppend(std::string_view stream, uint32_t shard, uint64_t batches, uint64_t records,
                uint64_t bytes, int64_t latency_ns) override;
  void OnRead(std::string_view stream, uint32_t shard, uint64_t records, uint64_t bytes) override;
  void OnLag(std::string_view stream, uint32_t shard, uint64_t records_behind) override;
  void OnConnectionOpened() override;
  void OnConnectionClosed() override;
  void OnError(uint16_t code) override;

 private:
  struct ShardSeries {
    Counter* records_in;
    Counter* bytes_in;
    Counter* records_out;
    Counter* bytes_out;
    Gauge* lag;
  };
  const ShardSeries& SeriesFor(std::string_view stream, uint32_t shard);

  const uint64_t id_;  // Unique per instance: the key of the per-thread caches.
  MetricFamily<Counter>* const records_in_;
  MetricFamily<Counter>* const bytes_in_;
  MetricFamily<Counter>* const records_out_;
  MetricFamily<Counter>* const bytes_out_;
  MetricFamily<Gauge>* const lag_;
  MetricFamily<Counter>* const errors_;
  Histogram* const append_latency_;
  Histogram* const batches_per_append_;
  Gauge* const connections_;
  Mutex mu_;
  std::map<std::pair<std::string, uint32_t>, std::unique_ptr<ShardSeries>> series_ GUARDED_BY(mu_);
};

// The number of file descriptors this process has open (entries of /proc/self/fd, not
// counting the one used to read it).
Result<uint64_t> CountOpenFds();

}  // namespace sluice::daemon
