#include "telemetry/broker_metrics.hpp"

#include <chrono>

namespace ap::telemetry {
namespace {

std::vector<std::string> RequestLabels(bool per_app, std::vector<std::string> labels) {
  if (per_app) labels.push_back("app");
  return labels;
}

uint64_t NonNegative(int64_t v) { return v > 0 ? static_cast<uint64_t>(v) : 0; }

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

BrokerMetrics::BrokerMetrics(MetricsOptions options)
    : options_(options),
      models_(options.max_models),
      apps_(options.max_apps),
      requests_({"aipassport_requests_total", "Proxied calls, by the HTTP status the app got.",
                 RequestLabels(options.per_app_labels, {"provider", "operation", "model", "status"}), 5000}),
      tokens_({"aipassport_tokens_total", "Tokens charged, by type (input, output, cached_input).",
               {"provider", "model", "type"}, 2000}),
      cost_({"aipassport_cost_usd_total", "What the calls cost, in US dollars.",
             RequestLabels(options.per_app_labels, {"provider", "model"}), 2000, 1e-6}),
      refusals_({"aipassport_refusals_total", "Calls the broker refused (or streams it ended), by reason.",
                 {"reason"}, 100}),
      operation_duration_({"gen_ai_client_operation_duration_seconds",
                           "Time the provider took on a call, from sending it to its answer's end.",
                           {"provider", "operation", "model"}, 1000, 1e-6},
                          MicrosBounds({0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                                        40.96, 81.92})),
      time_to_first_token_({"gen_ai_server_time_to_first_token_seconds",
                            "Time until the first piece of a streamed answer reached the app.",
                            {"provider", "operation", "model"}, 1000, 1e-6},
                           MicrosBounds({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
                                         5.0, 7.5, 10.0})),
      overhead_({"aipassport_overhead_seconds", "The broker's own time on a call: all of it but the provider's.",
                 {"provider", "operation"}, 200, 1e-6},
                MicrosBounds({0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1})),
      // OpenTelemetry's gen_ai.client.token.usage, with its attribute names and recommended buckets.
      token_usage_({"gen_ai_client_token_usage", "Tokens a call used, by type (input, output).",
                    {"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type"},
                    2000},
                   {1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}),
      leases_lost_({"aipassport_leases_lost_total", "Leases of stopped brokers counted as spent.", {}, 1}),
      lease_waits_({"aipassport_lease_wait_seconds",
                    "Time calls waited for the store to top up their grant's lease (a busy grant's calls should "
                    "find it topped up ahead of them).",
                    {}, 1, 1e-6},
                   MicrosBounds({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5})),
      store_errors_({"aipassport_store_errors_total", "Background store tasks that failed, by task.", {"task"}, 50}),
      last_heartbeat_us_(SteadyMicros()) {
  registry_.Add(&requests_);
  registry_.Add(&tokens_);
  registry_.Add(&cost_);
  registry_.Add(&refusals_);
  registry_.Add(&operation_duration_);
  registry_.Add(&time_to_first_token_);
  registry_.Add(&overhead_);
  registry_.Add(&token_usage_);
  registry_.Add(&leases_lost_);
  registry_.Add(&lease_waits_);
  registry_.Add(&store_errors_);
  AddGauge("aipassport_streams_open", "Streamed answers being relayed now.",
           [this] { return static_cast<double>(streams_open_.load(std::memory_order_relaxed)); });
  AddGauge("aipassport_store_heartbeat_age_seconds",
           "Seconds since the store last recorded this broker's heartbeat (since the start before the first).",
           [this] {
             int64_t age = SteadyMicros() - last_heartbeat_us_.load(std::memory_order_relaxed);
             return static_cast<double>(age / 1000) / 1000.0;
           });
}

void BrokerMetrics::HeartbeatRecorded() { last_heartbeat_us_.store(SteadyMicros(), std::memory_order_relaxed); }

void BrokerMetrics::LeaseWaited(int64_t micros) { lease_waits_.Observe({}, NonNegative(micros)); }

void BrokerMetrics::AddGauge(std::string name, std::string help, std::function<double()> read) {
  gauges_.push_back(std::make_unique<GaugeFunction>(std::move(name), std::move(help), std::move(read)));
  registry_.Add(gauges_.back().get());
}

// The series one kind of call updates (its provider, operation, model, status and app), each found
// on first use and kept by the thread: finding one builds its key, hashes it and probes a table,
// some ten times a call, and a thread's calls are mostly of the kind of its last one. A kind with a
// name folded into "other", and a series that came back as the all-"other" one, are not kept: a
// table can say full for a moment while two threads race for a slot.
struct BrokerMetrics::CallSeries {
  uint64_t metrics_id = 0;                      // of the BrokerMetrics the pointers below are into; 0: none
  std::string provider, operation, model, app;  // as the call gave them
  int status = 0;
  std::string model_label, app_label, status_label;  // as the series have them
  std::atomic<uint64_t>* requests = nullptr;
  std::atomic<uint64_t>* cost = nullptr;
  std::atomic<uint64_t>* input_tokens = nullptr;
  std::atomic<uint64_t>* output_tokens = nullptr;
  std::atomic<uint64_t>* cached_input_tokens = nullptr;
  HistogramFamily::Buckets* input_usage = nullptr;
  HistogramFamily::Buckets* output_usage = nullptr;
  HistogramFamily::Buckets* duration = nullptr;
  HistogramFamily::Buckets* first_token = nullptr;
  HistogramFamily::Buckets* overhead = nullptr;

  bool Is(uint64_t id, const CallSample& call) const {
    return metrics_id == id && status == call.status && provider == call.provider && operation == call.operation &&
           model == call.model && app == call.app;
  }
  // Makes this the kind of `call` (assigned in place: the strings keep their buffers).
  void Become(uint64_t id, const CallSample& call) {
    metrics_id = id;
    provider = call.provider;
    operation = call.operation;
    model = call.model;
    app = call.app;
    status = call.status;
    requests = cost = input_tokens = output_tokens = cached_input_tokens = nullptr;
    input_usage = output_usage = duration = first_token = overhead = nullptr;
  }
};

BrokerMetrics::CallSeries& BrokerMetrics::SeriesOf(const CallSample& call) {
  thread_local CallSeries last;
  if (last.Is(id_, call)) return last;
  last.Become(id_, call);
  // Only a call the app got an answer for may add a model name: the provider knew the model (or the
  // broker did, for its own answers). A refused call's name, which anyone can invent (a bad token
  // is refused after the body is read), counts under a name already kept, or under "other".
  bool answered = call.status >= 200 && call.status < 300;
  if (call.model.empty())
    last.model_label.clear();
  else
    last.model_label = answered ? models_.Fold(call.model) : models_.Known(call.model);
  last.app_label = options_.per_app_labels ? apps_.Fold(call.app) : "";
  last.status_label = std::to_string(call.status);
  bool folded =
      (!call.model.empty() && last.model_label == kOther) || (options_.per_app_labels && last.app_label == kOther);
  if (folded) last.metrics_id = 0;  // the labels serve this call; the next one folds again
  return last;
}

namespace {

// The series `labels` name in `family`: the one `kept` points at, else found and kept (unless it
// is the all-"other" one).
template <class Family, class Series>
Series& Kept(Series*& kept, Family& family, std::initializer_list<std::string_view> labels) {
  Series* found = kept ? kept : &family.Series(labels);
  if (found != &family.Other()) kept = found;
  return *found;
}

void Add(std::atomic<uint64_t>*& series, CounterFamily& family, std::initializer_list<std::string_view> labels,
         int64_t units) {
  Kept(series, family, labels).fetch_add(NonNegative(units), std::memory_order_relaxed);
}

void Observe(HistogramFamily::Buckets*& series, HistogramFamily& family, std::initializer_list<std::string_view> labels,
             int64_t units) {
  family.Observe(Kept(series, family, labels), NonNegative(units));
}

}  // namespace

void BrokerMetrics::RecordCall(const CallSample& call) {
  CallSeries& s = SeriesOf(call);
  std::string_view provider = s.provider.empty() ? std::string_view("none") : s.provider, operation = s.operation,
                   model = s.model_label, app = s.app_label, status = s.status_label;
  if (options_.per_app_labels) {
    Add(s.requests, requests_, {provider, operation, model, status, app}, 1);
    if (call.cost_micros > 0) Add(s.cost, cost_, {provider, model, app}, call.cost_micros);
  } else {
    Add(s.requests, requests_, {provider, operation, model, status}, 1);
    if (call.cost_micros > 0) Add(s.cost, cost_, {provider, model}, call.cost_micros);
  }
  if (!call.refusal.empty()) refusals_.Add({call.refusal});
  if (call.input_tokens > 0) {
    Add(s.input_tokens, tokens_, {provider, model, "input"}, call.input_tokens);
    Observe(s.input_usage, token_usage_, {operation, provider, model, "input"}, call.input_tokens);
  }
  if (call.output_tokens > 0) {
    Add(s.output_tokens, tokens_, {provider, model, "output"}, call.output_tokens);
    Observe(s.output_usage, token_usage_, {operation, provider, model, "output"}, call.output_tokens);
  }
  if (call.cached_input_tokens > 0)
    Add(s.cached_input_tokens, tokens_, {provider, model, "cached_input"}, call.cached_input_tokens);
  int64_t upstream = call.upstream_us.value_or(0);
  if (call.upstream_us) Observe(s.duration, operation_duration_, {provider, operation, model}, upstream);
  if (call.first_token_us)
    Observe(s.first_token, time_to_first_token_, {provider, operation, model}, *call.first_token_us);
  Observe(s.overhead, overhead_, {provider, operation}, call.duration_us - upstream);
}

}  // namespace ap::telemetry
