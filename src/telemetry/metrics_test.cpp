#include "telemetry/metrics.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "telemetry/broker_metrics.hpp"

namespace ap::telemetry {
namespace {

bool Has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

TEST(Metrics, CounterRendersLabelsEscapedAndScaled) {
  CounterFamily cost({"x_cost_total", "Cost.", {"model"}, 10, 1e-6});
  cost.Add({"gpt-4o"}, 1500000);
  cost.Add({"gpt-4o"}, 250000);
  cost.Add({"we\"ird\\\n"}, 1);
  std::string out;
  cost.Render(out);
  EXPECT_TRUE(Has(out, "# TYPE x_cost_total counter")) << out;
  EXPECT_TRUE(Has(out, "x_cost_total{model=\"gpt-4o\"} 1.75")) << out;
  EXPECT_TRUE(Has(out, "x_cost_total{model=\"we\\\"ird\\\\\\n\"} 1e-06")) << out;
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  HistogramFamily h({"x_seconds", "Time.", {"op"}, 10, 1e-6}, MicrosBounds({0.1, 1}));
  h.Observe({"chat"}, 50000);    // 0.05 s
  h.Observe({"chat"}, 500000);   // 0.5 s
  h.Observe({"chat"}, 5000000);  // 5 s
  std::string out;
  h.Render(out);
  EXPECT_TRUE(Has(out, "x_seconds_bucket{op=\"chat\",le=\"0.1\"} 1")) << out;
  EXPECT_TRUE(Has(out, "x_seconds_bucket{op=\"chat\",le=\"1\"} 2")) << out;
  EXPECT_TRUE(Has(out, "x_seconds_bucket{op=\"chat\",le=\"+Inf\"} 3")) << out;
  EXPECT_TRUE(Has(out, "x_seconds_sum{op=\"chat\"} 5.55")) << out;
  EXPECT_TRUE(Has(out, "x_seconds_count{op=\"chat\"} 3")) << out;
}

TEST(Metrics, SeriesPastTheCapCountAsOther) {
  CounterFamily c({"x_total", "X.", {"a", "b"}, 2});
  c.Add({"1", "1"});
  c.Add({"2", "2"});
  c.Add({"3", "3"}, 5);
  c.Add({"4", "4"}, 5);
  EXPECT_EQ(c.Value({"1", "1"}), 1u);
  EXPECT_EQ(c.Value({"3", "3"}), 0u);
  EXPECT_EQ(c.Value({"other", "other"}), 10u);
}

// Each label value keeps its place, empty ones too, and a long one is cut at the same length
// wherever it is.
TEST(Metrics, EmptyAndLongLabelValuesKeepTheirPlaces) {
  CounterFamily c({"x_total", "X.", {"a", "b", "c"}, 10});
  c.Add({"", "x", ""}, 1);
  c.Add({"x", "", ""}, 2);
  c.Add({"", "", "x"}, 3);
  const std::string long_value(200, 'm');
  c.Add({long_value, "y", "z"}, 4);
  EXPECT_EQ(c.Value({"", "x", ""}), 1u);
  EXPECT_EQ(c.Value({"x", "", ""}), 2u);
  EXPECT_EQ(c.Value({"", "", "x"}), 3u);
  EXPECT_EQ(c.Value({long_value.substr(0, 150), "y", "z"}), 4u) << "cut to the same first bytes: one series";
  std::string out;
  c.Render(out);
  EXPECT_TRUE(Has(out, "x_total{a=\"\",b=\"x\",c=\"\"} 1")) << out;
  EXPECT_TRUE(Has(out, "x_total{a=\"x\",b=\"\",c=\"\"} 2")) << out;
  EXPECT_TRUE(Has(out, "x_total{a=\"" + long_value.substr(0, 96) + "\",b=\"y\",c=\"z\"} 4")) << out;
}

// Prometheus refuses a whole scrape with a label value that is not UTF-8: a long value (an app's
// name in another script) is cut between characters.
TEST(Metrics, ALongLabelValueIsCutBetweenCharacters) {
  CounterFamily c({"x_total", "X.", {"a"}, 10});
  std::string name = std::string(95, 'a') + "\u00e9\u00e9";  // the cut at byte 96 falls inside the first
  c.Add({name}, 1);
  std::string out;
  c.Render(out);
  EXPECT_TRUE(Has(out, "x_total{a=\"" + std::string(95, 'a') + "\"} 1")) << out;
  LabelCap cap(2);
  EXPECT_EQ(cap.Fold(name), std::string(95, 'a'));
}

TEST(Metrics, LabelCapFoldsNewValuesOnceFull) {
  LabelCap cap(2);
  EXPECT_EQ(cap.Fold("a"), "a");
  EXPECT_EQ(cap.Fold("b"), "b");
  EXPECT_EQ(cap.Fold("c"), "other");
  EXPECT_EQ(cap.Fold("a"), "a");
}

TEST(Metrics, CountsFromManyThreadsAddUp) {
  CounterFamily c({"x_total", "X.", {"k"}, 100});
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 10000; ++i) c.Add({std::to_string((t + i) % 20)});
    });
  for (auto& t : threads) t.join();
  uint64_t total = 0;
  for (int k = 0; k < 20; ++k) total += c.Value({std::to_string(k)});
  EXPECT_EQ(total, 80000u);
}

TEST(BrokerMetrics, OneCallFeedsEverySeries) {
  BrokerMetrics m;
  CallSample call;
  call.provider = "openai";
  call.operation = "chat";
  call.model = "gpt-4o-mini";
  call.app = "Notes";
  call.status = 200;
  call.input_tokens = 12;
  call.output_tokens = 30;
  call.cost_micros = 42;
  call.duration_us = 12000;
  call.upstream_us = 10000;
  call.first_token_us = 3000;
  m.RecordCall(call);
  CallSample refused;
  refused.operation = "chat";
  refused.status = 401;
  refused.refusal = "unauthorized";
  refused.duration_us = 100;
  m.RecordCall(refused);
  std::string out = m.Render();
  EXPECT_TRUE(Has(out, "aipassport_requests_total{provider=\"openai\",operation=\"chat\",model=\"gpt-4o-mini\",status=\"200\"} 1"))
      << out;
  EXPECT_TRUE(Has(out, "aipassport_requests_total{provider=\"none\",operation=\"chat\",model=\"\",status=\"401\"} 1"));
  EXPECT_TRUE(Has(out, "aipassport_tokens_total{provider=\"openai\",model=\"gpt-4o-mini\",type=\"input\"} 12"));
  EXPECT_TRUE(Has(out, "aipassport_tokens_total{provider=\"openai\",model=\"gpt-4o-mini\",type=\"output\"} 30"));
  EXPECT_TRUE(Has(out, "aipassport_cost_usd_total{provider=\"openai\",model=\"gpt-4o-mini\"} 4.2e-05"));
  EXPECT_TRUE(Has(out, "aipassport_refusals_total{reason=\"unauthorized\"} 1"));
  EXPECT_TRUE(Has(out, "gen_ai_client_operation_duration_seconds_count{provider=\"openai\",operation=\"chat\",model=\"gpt-4o-mini\"} 1"));
  EXPECT_TRUE(Has(out, "aipassport_overhead_seconds_sum{provider=\"openai\",operation=\"chat\"} 0.002"));
  EXPECT_TRUE(Has(out, "aipassport_streams_open 0"));
  EXPECT_EQ(out.find("Notes"), std::string::npos) << "no app label unless per_app_labels";
  const std::string usage = "gen_ai_client_token_usage_bucket{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\","
                            "gen_ai_request_model=\"gpt-4o-mini\",gen_ai_token_type=";
  EXPECT_TRUE(Has(out, usage + "\"input\",le=\"4\"} 0")) << out;
  EXPECT_TRUE(Has(out, usage + "\"input\",le=\"16\"} 1")) << out;
  EXPECT_TRUE(Has(out, usage + "\"output\",le=\"16\"} 0")) << out;
  EXPECT_TRUE(Has(out, usage + "\"output\",le=\"64\"} 1")) << out;
  EXPECT_TRUE(Has(out, usage + "\"output\",le=\"67108864\"} 1")) << out;
  EXPECT_TRUE(Has(out, "gen_ai_client_token_usage_sum{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"openai\","
                       "gen_ai_request_model=\"gpt-4o-mini\",gen_ai_token_type=\"output\"} 30"));
  EXPECT_EQ(out.find("gen_ai_provider_name=\"none\""), std::string::npos) << "a call without tokens is not observed";
}

TEST(BrokerMetrics, HeartbeatAgeCountsFromTheLastHeartbeat) {
  BrokerMetrics m;
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto age = [&m] {
    std::string out = m.Render();
    std::string name = "\naipassport_store_heartbeat_age_seconds ";
    size_t at = out.find(name);
    EXPECT_NE(at, std::string::npos) << out;
    return std::stod(out.substr(at + name.size()));
  };
  double before = age();
  EXPECT_GE(before, 0.03) << "before the first heartbeat, the age counts from the start";
  m.HeartbeatRecorded();
  EXPECT_LT(age(), before);
}

TEST(BrokerMetrics, PerAppLabelsOnlyWhenAsked) {
  BrokerMetrics m(MetricsOptions{true, 10, 10});
  CallSample call;
  call.provider = "openai";
  call.operation = "chat";
  call.model = "m";
  call.app = "Notes";
  call.status = 200;
  m.RecordCall(call);
  EXPECT_TRUE(Has(m.Render(),
                  "aipassport_requests_total{provider=\"openai\",operation=\"chat\",model=\"m\",status=\"200\",app=\"Notes\"} 1"));
}

TEST(BrokerMetrics, ModelNamesPastTheCapAreOther) {
  BrokerMetrics m(MetricsOptions{false, 2, 2});
  for (const char* model : {"a", "b", "c", "d"}) {
    CallSample call;
    call.provider = "openai";
    call.operation = "chat";
    call.model = model;
    call.status = 200;
    m.RecordCall(call);
  }
  EXPECT_EQ(m.Requests().Value({"openai", "chat", "other", "200"}), 2u);
  EXPECT_EQ(m.Requests().Value({"openai", "chat", "c", "200"}), 0u);
}

// Anyone can send a call naming an invented model (its token is refused after the body is read):
// such names must not fill the labels' cap before the models the broker really serves.
TEST(BrokerMetrics, OnlyAnsweredCallsAddModelNames) {
  BrokerMetrics m(MetricsOptions{false, 2, 2});
  auto call = [&m](std::string_view model, int status) {
    CallSample c;
    c.operation = "chat";
    c.model = model;
    c.status = status;
    if (status == 200) c.provider = "openai";
    m.RecordCall(c);
  };
  for (const char* invented : {"x1", "x2", "x3"}) call(invented, 401);
  call("gpt-4o", 200);
  call("gpt-4o", 429);
  call("x1", 401);
  EXPECT_EQ(m.Requests().Value({"none", "chat", "other", "401"}), 4u);
  EXPECT_EQ(m.Requests().Value({"openai", "chat", "gpt-4o", "200"}), 1u);
  EXPECT_EQ(m.Requests().Value({"none", "chat", "gpt-4o", "429"}), 1u) << "a refusal of a kept name keeps its name";
  EXPECT_EQ(m.Requests().Value({"none", "chat", "x1", "401"}), 0u);
}

// A thread keeps the series of its last kind of call: a call that differs in any label, or comes
// to another BrokerMetrics (which may live where the last one did), counts under its own.
TEST(BrokerMetrics, ACallCountsUnderItsOwnLabelsWhateverCameBefore) {
  auto call = [](std::string_view model, int status, std::string_view app, int64_t output_tokens) {
    CallSample c;
    c.provider = "openai";
    c.operation = "chat";
    c.model = model;
    c.app = app;
    c.status = status;
    c.output_tokens = output_tokens;
    return c;
  };
  {
    BrokerMetrics m(MetricsOptions{true, 10, 10});
    m.RecordCall(call("m", 200, "Notes", 0));
    m.RecordCall(call("m", 200, "Notes", 5));  // the same kind: its tokens series is found now
    m.RecordCall(call("m", 429, "Notes", 0));
    m.RecordCall(call("m", 200, "Mail", 7));
    m.RecordCall(call("n", 200, "Notes", 0));
    m.RecordCall(call("m", 200, "Notes", 1));
    EXPECT_EQ(m.Requests().Value({"openai", "chat", "m", "200", "Notes"}), 3u);
    EXPECT_EQ(m.Requests().Value({"openai", "chat", "m", "429", "Notes"}), 1u);
    EXPECT_EQ(m.Requests().Value({"openai", "chat", "m", "200", "Mail"}), 1u);
    EXPECT_EQ(m.Requests().Value({"openai", "chat", "n", "200", "Notes"}), 1u);
    EXPECT_TRUE(Has(m.Render(), "aipassport_tokens_total{provider=\"openai\",model=\"m\",type=\"output\"} 13"));
  }
  BrokerMetrics one(MetricsOptions{true, 10, 10}), other(MetricsOptions{true, 10, 10});
  one.RecordCall(call("m", 200, "Notes", 2));
  other.RecordCall(call("m", 200, "Notes", 3));
  one.RecordCall(call("m", 200, "Notes", 2));
  EXPECT_EQ(one.Requests().Value({"openai", "chat", "m", "200", "Notes"}), 2u);
  EXPECT_EQ(other.Requests().Value({"openai", "chat", "m", "200", "Notes"}), 1u);
  EXPECT_TRUE(Has(other.Render(), "aipassport_tokens_total{provider=\"openai\",model=\"m\",type=\"output\"} 3"));
}

}  // namespace
}  // namespace ap::telemetry
