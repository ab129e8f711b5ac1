#pragma once
// The broker's metrics, named after the OpenTelemetry GenAI conventions where one exists: what each
// proxied call did (counted once, where it finishes), streams and connections open now, and the
// health of the store and of the leases. Model names come from apps: past a cap they count as "other".
// Thread-safety: every method may be called from any thread; nothing here takes a lock.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "telemetry/metrics.hpp"

namespace ap::telemetry {

struct MetricsOptions {
  bool per_app_labels = false;  // adds an `app` label (the app's name) to the request and cost series
  size_t max_models = 200;      // distinct model names kept as labels
  size_t max_apps = 200;        // distinct app names kept as labels, when per_app_labels
};

// One finished call, as CallActivity saw it.
struct CallSample {
  std::string_view provider;   // empty: the call was refused before its grant was known
  std::string_view operation;  // "chat", "embeddings", "models"...
  std::string_view model;
  std::string_view app;
  int status = 0;              // what the app got
  std::string_view refusal;    // the broker's refusal code; empty when it did not refuse
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cached_input_tokens = 0;
  int64_t cost_micros = 0;
  int64_t duration_us = 0;                // the whole call, as the broker served it
  std::optional<int64_t> upstream_us;     // the provider's part, when the call went upstream
  std::optional<int64_t> first_token_us;  // until the first streamed piece reached the app
};

class BrokerMetrics {
 public:
  explicit BrokerMetrics(MetricsOptions options = {});
  BrokerMetrics(const BrokerMetrics&) = delete;
  BrokerMetrics& operator=(const BrokerMetrics&) = delete;

  void RecordCall(const CallSample& call);
  void StreamOpened() { streams_open_.fetch_add(1, std::memory_order_relaxed); }
  void StreamClosed() { streams_open_.fetch_sub(1, std::memory_order_relaxed); }
  // Leases of stopped brokers that the store turned into spend.
  void LeasesLost(int64_t n) { leases_lost_.Add({}, static_cast<uint64_t>(n)); }
  // A call waited this long for the store to top up its grant's lease.
  void LeaseWaited(int64_t micros);
  // A store task (heartbeat, activity write) that failed.
  void StoreError(std::string_view task) { store_errors_.Add({task}); }
  // The store recorded this broker's heartbeat just now.
  void HeartbeatRecorded();
  // A number read at each scrape; add them before serving.
  void AddGauge(std::string name, std::string help, std::function<double()> read);

  // The text exposition format (Content-Type: text/plain; version=0.0.4).
  std::string Render() const { return registry_.Render(); }
  const CounterFamily& Requests() const { return requests_; }

 private:
  struct CallSeries;
  CallSeries& SeriesOf(const CallSample& call);

  static inline std::atomic<uint64_t> next_id_{1};
  // Tells this instance's series apart from another's, in a thread's CallSeries.
  const uint64_t id_ = next_id_.fetch_add(1, std::memory_order_relaxed);
  MetricsOptions options_;
  LabelCap models_;
  LabelCap apps_;
  CounterFamily requests_;
  CounterFamily tokens_;
  CounterFamily cost_;
  CounterFamily refusals_;
  HistogramFamily operation_duration_;
  HistogramFamily time_to_first_token_;
  HistogramFamily overhead_;
  HistogramFamily token_usage_;
  CounterFamily leases_lost_;
  HistogramFamily lease_waits_;
  CounterFamily store_errors_;
  std::atomic<int64_t> streams_open_{0};
  std::atomic<int64_t> last_heartbeat_us_;  // steady clock; the start until the first heartbeat
  std::vector<std::unique_ptr<GaugeFunction>> gauges_;
  Registry registry_;
};

}  // namespace ap::telemetry
