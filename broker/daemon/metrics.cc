// SPDX-License-Identifier: Apache-2.0
#include "broker/daemon/metrics.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <dirent.h>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "broker/native_frame.h"
#include "log/base/check.h"

namespace sluice::daemon {
namespace {

// Prometheus floats as the Go clients print them (strconv 'g', shortest): "+Inf", "-Inf",
// "NaN"; the shortest digits that read back as the same double, in fixed notation for decimal
// exponents -4..20 ("0.0005", "1"), else scientific ("5e-05", "1e+21").
std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[400];  // Fixed notation of up to 1e21 (and of tiny values we never print fixed).
  std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  SLUICE_CHECK(r.ec == std::errc(), "to_chars(double) cannot overflow");
  const std::string_view sci(buf, r.ptr - buf);
  const int exp = std::stoi(std::string(sci.substr(sci.find('e') + 1)));
  if (exp < -4 || exp >= 21) return std::string(sci);
  r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  SLUICE_CHECK(r.ec == std::errc(), "to_chars(double) cannot overflow");
  return std::string(buf, r.ptr);
}

// Label values escape backslash, double quote and newline; HELP text backslash and newline.
void AppendEscaped(std::string* out, std::string_view text, bool quote) {
  for (char ch : text) {
    if (ch == '\\') {
      *out += "\\\\";
    } else if (ch == '\n') {
      *out += "\\n";
    } else if (ch == '"' && quote) {
      *out += "\\\"";
    } else {
      *out += ch;
    }
  }
}

bool IsNameChar(char ch, bool first, bool colon_ok) {
  if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_') return true;
  if (ch == ':') return colon_ok;
  return !first && ch >= '0' && ch <= '9';
}

// [a-zA-Z_:][a-zA-Z0-9_:]* for metrics; labels: no ':' and no leading "__" (reserved).
bool IsValidName(std::string_view name, bool metric) {
  if (name.empty() || (!metric && name.starts_with("__"))) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, metric)) return false;
  }
  return true;
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

std::string ErrorCodeLabel(uint16_t code) {
  using broker::native::ErrorCode;
  switch (static_cast<ErrorCode>(code)) {
    case ErrorCode::kOk:
      return "Ok";
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kCorruption:
      return "Corruption";
    case ErrorCode::kTruncated:
      return "Truncated";
    case ErrorCode::kIOError:
      return "IOError";
    case ErrorCode::kNoSpace:
      return "NoSpace";
    case ErrorCode::kInvalidArgument:
      return "InvalidArgument";
    case ErrorCode::kUnavailable:
      return "Unavailable";
    case ErrorCode::kAborted:
      return "Aborted";
    case ErrorCode::kNotSupported:
      return "NotSupported";
    case ErrorCode::kMalformedFrame:
      return "MalformedFrame";
    case ErrorCode::kUnsupportedVersion:
      return "UnsupportedVersion";
    case ErrorCode::kFrameTooLarge:
      return "FrameTooLarge";
    case ErrorCode::kUnknownType:
      return "UnknownType";
  }
  return std::to_string(code);
}

std::atomic<uint64_t> next_engine_metrics_id{1};

}  // namespace

// ---- MetricsText ----

void MetricsText::BeginFamily(std::string_view name, std::string_view help, MetricType type) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  AppendEscaped(&out_, help, /*quote=*/false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += TypeName(type);
  out_ += '\n';
}

void MetricsText::Name(std::string_view name, const Labels& labels) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += labels[i].first;
      out_ += "=\"";
      AppendEscaped(&out_, labels[i].second, /*quote=*/true);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
}

void MetricsText::Sample(std::string_view name, const Labels& labels, double value) {
  Name(name, labels);
  out_ += FormatDouble(value);
  out_ += '\n';
}

void MetricsText::Sample(std::string_view name, const Labels& labels, uint64_t value) {
  Name(name, labels);
  out_ += std::to_string(value);
  out_ += '\n';
}

void MetricsText::Sample(std::string_view name, const Labels& labels, int64_t value) {
  Name(name, labels);
  out_ += std::to_string(value);
  out_ += '\n';
}

void MetricsText::WriteHistogram(std::string_view name, const Labels& labels,
                                 const HistogramSnapshot& h) {
  SLUICE_CHECK(h.counts.size() == h.bounds.size() + 1, "histogram counts must be bounds + 1");
  const std::string bucket = std::string(name) + "_bucket";
  Labels with_le = labels;
  with_le.emplace_back("le", "");
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    with_le.back().second = i < h.bounds.size() ? FormatDouble(h.bounds[i]) : "+Inf";
    Sample(bucket, with_le, cumulative);
  }
  Sample(std::string(name) + "_sum", labels, h.sum);
  Sample(std::string(name) + "_count", labels, cumulative);
}

void MetricsText::WriteGauge(std::string_view name, std::string_view help, double value) {
  BeginFamily(name, help, MetricType::kGauge);
  Sample(name, {}, value);
}

// ---- Histogram ----

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    SLUICE_CHECK(std::isfinite(bounds_[i]), "histogram bounds must be finite");
    SLUICE_CHECK(i == 0 || bounds_[i - 1] < bounds_[i], "histogram bounds must increase");
  }
}

void Histogram::Observe(double v) {
  if (std::isnan(v)) return;
  // The first bound >= v: its bucket counts v (le is inclusive); none: the +Inf bucket.
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot s;
  s.bounds = bounds_;
  s.counts.resize(bounds_.size() + 1);
  for (size_t i = 0; i < s.counts.size(); ++i) {
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---- Families ----

MetricFamilyBase::MetricFamilyBase(std::string name, std::string help, MetricType type,
                                   std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {
  SLUICE_CHECK(IsValidName(name_, /*metric=*/true), "invalid metric name");
  for (const std::string& l : label_names_) {
    SLUICE_CHECK(IsValidName(l, /*metric=*/false), "invalid label name");
    SLUICE_CHECK(!(type_ == MetricType::kHistogram && l == "le"), "'le' is a histogram's own");
  }
}

Labels MetricFamilyBase::LabelsFor(const std::vector<std::string>& values) const {
  Labels labels;
  labels.reserve(values.size());
  for (size_t i = 0; i < values.size(); ++i) labels.emplace_back(label_names_[i], values[i]);
  return labels;
}

template <typename M>
MetricFamily<M>::MetricFamily(std::string name, std::string help, MetricType type,
                              std::vector<std::string> label_names, std::vector<double> bounds)
    : MetricFamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
      bounds_(std::move(bounds)) {}

template <typename M>
M* MetricFamily<M>::WithLabels(const std::vector<std::string>& values) {
  SLUICE_CHECK(values.size() == label_names_.size(), "one value per label name");
  MutexLock lock(&mu_);
  std::unique_ptr<M>& m = series_[values];
  if (m == nullptr) {
    if constexpr (std::is_same_v<M, Histogram>) {
      m = std::make_unique<Histogram>(bounds_);
    } else {
      m = std::make_unique<M>();
    }
  }
  return m.get();
}

template <typename M>
void MetricFamily<M>::Render(MetricsText* out) const {
  MutexLock lock(&mu_);
  if (series_.empty()) return;  // A labelled family shows up with its first series.
  out->BeginFamily(name_, help_, type_);
  for (const auto& [values, m] : series_) {
    if constexpr (std::is_same_v<M, Histogram>) {
      out->WriteHistogram(name_, LabelsFor(values), m->Snapshot());
    } else {
      out->Sample(name_, LabelsFor(values), m->value());
    }
  }
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

// ---- MetricsRegistry ----

template <typename F>
F* MetricsRegistry::Add(std::unique_ptr<F> family) {
  MutexLock lock(&mu_);
  for (const auto& f : families_) {
    SLUICE_CHECK(f->name() != family->name(), "metric family registered twice");
  }
  F* raw = family.get();
  families_.push_back(std::move(family));
  return raw;
}

MetricFamily<Counter>* MetricsRegistry::AddCounter(std::string name, std::string help,
                                                   std::vector<std::string> label_names) {
  return Add(std::make_unique<MetricFamily<Counter>>(std::move(name), std::move(help),
                                                     MetricType::kCounter, std::move(label_names)));
}

MetricFamily<Gauge>* MetricsRegistry::AddGauge(std::string name, std::string help,
                                               std::vector<std::string> label_names) {
  return Add(std::make_unique<MetricFamily<Gauge>>(std::move(name), std::move(help),
                                                   MetricType::kGauge, std::move(label_names)));
}

MetricFamily<Histogram>* MetricsRegistry::AddHistogram(std::string name, std::string help,
                                                       std::vector<double> bounds,
                                                       std::vector<std::string> label_names) {
  return Add(std::make_unique<MetricFamily<Histogram>>(std::move(name), std::move(help),
                                                       MetricType::kHistogram,
                                                       std::move(label_names), std::move(bounds)));
}

void MetricsRegistry::AddCollector(std::function<void(MetricsText&)> collector) {
  MutexLock lock(&mu_);
  collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::Render() const {
  // Families are never removed, so their pointers outlive the lock; collectors run unlocked
  // so that they may use the registry themselves.
  std::vector<const MetricFamilyBase*> families;
  std::vector<std::function<void(MetricsText&)>> collectors;
  {
    MutexLock lock(&mu_);
    for (const auto& f : families_) families.push_back(f.get());
    collectors = collectors_;
  }
  MetricsText text;
  for (const MetricFamilyBase* f : families) f->Render(&text);
  for (const auto& c : collectors) c(text);
  return text.text();
}

std::vector<double> AppendLatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
          0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1};
}

// ---- EngineMetrics ----

EngineMetrics::EngineMetrics(MetricsRegistry* registry)
    : id_(next_engine_metrics_id.fetch_add(1, std::memory_order_relaxed)),
      records_in_(registry->AddCounter("sluice_records_in_total",
                                       "Records appended, by stream and shard.",
                                       {"stream", "shard"})),
      bytes_in_(registry->AddCounter("sluice_bytes_in_total",
                                     "Bytes of record batches appended, by stream and shard.",
                                     {"stream", "shard"})),
      records_out_(registry->AddCounter(
          "sluice_records_out_total",
          "Records sent to readers (Fetch responses, Subscribe pushes), by stream and shard.",
          {"stream", "shard"})),
      bytes_out_(registry->AddCounter("sluice_bytes_out_total",
                                      "Bytes of record batches sent to readers.",
                                      {"stream", "shard"})),
      lag_(registry->AddGauge(
          "sluice_consumer_lag_records",
          "Records between a reader and the shard's visible end, as last reported.",
          {"stream", "shard"})),
      errors_(registry->AddCounter("sluice_errors_total",
                                   "Requests answered with an error frame, by error code.",
                                   {"code"})),
      append_latency_(registry
                          ->AddHistogram("sluice_append_latency_seconds",
                                         "Time from an append's arrival to its durability.",
                                         AppendLatencyBuckets())
                          ->WithLabels({})),
      batches_per_append_(registry
                              ->AddHistogram("sluice_group_commit_batches",
                                             "Client batches per shard append.",
                                             {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})
                              ->WithLabels({})),
      connections_(
          registry->AddGauge("sluice_connections", "Open client connections.")->WithLabels({})) {}

const EngineMetrics::ShardSeries& EngineMetrics::SeriesFor(std::string_view stream,
                                                           uint32_t shard) {
  // Key: instance id (8 bytes) + shard (4) + stream name. Ids are never reused, so entries of
  // destroyed instances (small, never looked up again) stay until their thread exits.
  thread_local std::unordered_map<std::string, const ShardSeries*> cache;
  thread_local std::string key;
  key.assign(reinterpret_cast<const char*>(&id_), sizeof(id_));
  key.append(reinterpret_cast<const char*>(&shard), sizeof(shard));
  key.append(stream);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;

  const ShardSeries* series;
  {
    MutexLock lock(&mu_);
    std::unique_ptr<ShardSeries>& s = series_[{std::string(stream), shard}];
    if (s == nullptr) {
      const std::vector<std::string> values = {std::string(stream), std::to_string(shard)};
      s = std::make_unique<ShardSeries>(
          ShardSeries{records_in_->WithLabels(values), bytes_in_->WithLabels(values),
                      records_out_->WithLabels(values), bytes_out_->WithLabels(values),
                      lag_->WithLabels(values)});
    }
    series = s.get();
  }
  cache.emplace(key, series);
  return *series;
}

void EngineMetrics::OnAppend(std::string_view stream, uint32_t shard, uint64_t batches,
                             uint64_t records, uint64_t bytes, int64_t latency_ns) {
  const ShardSeries& s = SeriesFor(stream, shard);
  s.records_in->Inc(records);
  s.bytes_in->Inc(bytes);
  append_latency_->Observe(static_cast<double>(latency_ns) / 1e9);
  batches_per_append_->Observe(static_cast<double>(batches));
}

void EngineMetrics::OnRead(std::string_view stream, uint32_t shard, uint64_t records,
                           uint64_t bytes) {
  const ShardSeries& s = SeriesFor(stream, shard);
  s.records_out->Inc(records);
  s.bytes_out->Inc(bytes);
}

void EngineMetrics::OnLag(std::string_view stream, uint32_t shard, uint64_t records_behind) {
  SeriesFor(stream, shard).lag->Set(static_cast<int64_t>(records_behind));
}

void EngineMetrics::OnConnectionOpened() { connections_->Add(1); }

void EngineMetrics::OnConnectionClosed() { connections_->Add(-1); }

void EngineMetrics::OnError(uint16_t code) { errors_->WithLabels({ErrorCodeLabel(code)})->Inc(); }

// ---- Process ----

Result<uint64_t> CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return Status::FromErrno(errno, "opendir /proc/self/fd");
  uint64_t n = 0;
  errno = 0;
  while (const dirent* e = readdir(dir)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
  }
  const int err = errno;
  closedir(dir);
  if (err != 0) return Status::FromErrno(err, "readdir /proc/self/fd");
  return n - 1;  // The directory's own descriptor.
}

}  // namespace sluice::daemon
