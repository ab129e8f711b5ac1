#include "metering/usage_recorder.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/money.hpp"
#include "domain/grant.hpp"
#include "store/forwarding_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace ap::metering {
namespace {

class UsageRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ap-usage-recorder-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    store_ = store::OpenSqliteStore(dir_ / "db").value();
    first_ = Approved();
    second_ = Approved();
  }
  void TearDown() override {
    pool_.Join();
    std::filesystem::remove_all(dir_);
  }

  std::string Approved(std::optional<int64_t> budget_cents = std::nullopt) {
    domain::Scope scope;
    scope.provider = "openai";
    scope.capabilities = {"chat"};
    scope.max_budget_cents = budget_cents;
    auto r = domain::MakeGrantRequest("app", "https://app.example", "", scope, "hash", 100);
    r.grant.status = store::GrantStatus::kApproved;
    EXPECT_TRUE(store_->Grants().CreateGrantRequest(r.request, r.grant));
    return r.grant.id;
  }
  // Flushes on the store thread, as the broker does.
  void Flush(UsageRecorder& recorder) {
    std::promise<void> done;
    boost::asio::post(pool_.Pool(), [&] {
      recorder.Flush();
      done.set_value();
    });
    done.get_future().get();
  }
  static store::UsageRecord Row(const std::string& grant, const std::string& model, int64_t input, int64_t cost) {
    return store::UsageRecord{grant, "2026-12-02", model, 1, input, 0, 2 * input, 0, cost};
  }
  // "model requests input output cost" per row of `grant`.
  std::vector<std::string> Rows(const std::string& grant) {
    std::vector<std::string> out;
    for (const auto& r : store_->Metering().ListUsage(grant, std::nullopt, 10).value())
      out.push_back(r.model + " " + std::to_string(r.requests) + " " + std::to_string(r.input_tokens) + " " +
                    std::to_string(r.output_tokens) + " " + std::to_string(r.cost_micros));
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  http::BlockingPool pool_{1};
  boost::asio::io_context timers_;
  std::string first_, second_;
};

// What the store holds after a flush is every row recorded before it, summed by grant, day and
// model; the second batch goes through the buffer the first was written from.
TEST_F(UsageRecorderTest, RowsOfOneGrantDayAndModelAreSummedBatchAfterBatch) {
  RecorderOptions options;
  options.node_id = "node-1";
  UsageRecorder recorder(*store_, pool_, timers_.get_executor(), options);
  recorder.Record(Row(first_, "m1", 10, 100));
  recorder.Record(Row(second_, "m1", 1, 7));
  recorder.Record(Row(first_, "m2", 3, 30));
  recorder.Record(Row(first_, "m1", 5, 50));
  Flush(recorder);
  EXPECT_EQ(Rows(first_), (std::vector<std::string>{"m1 2 15 30 150", "m2 1 3 6 30"}));
  EXPECT_EQ(Rows(second_), (std::vector<std::string>{"m1 1 1 2 7"}));

  // The next batch goes through the buffer the first was written from.
  for (int i = 0; i < 3; ++i) recorder.Record(Row(second_, "m1", 2, 10));
  recorder.Record(Row(first_, "m2", 1, 1));
  Flush(recorder);
  EXPECT_EQ(Rows(first_), (std::vector<std::string>{"m1 2 15 30 150", "m2 2 4 8 31"}));
  EXPECT_EQ(Rows(second_), (std::vector<std::string>{"m1 4 7 14 37"}));
  EXPECT_EQ(store_->Metering().TotalUsage(first_).value().cost_micros, 181);
}

// Calls of one grant, day and model in a row are summed as they are recorded, into one row the
// store thread's merge leaves as it is: checked as that merge is, the cost stops at the bound
// instead of going past it.
TEST_F(UsageRecorderTest, ACostSummedAsItIsRecordedStopsAtTheBound) {
  RecorderOptions options;
  options.node_id = "node-1";
  UsageRecorder recorder(*store_, pool_, timers_.get_executor(), options);
  for (int i = 0; i < 3; ++i) recorder.Record(Row(first_, "m1", 1, kMaxMicros));
  recorder.Record(Row(second_, "m1", 1, 1));
  Flush(recorder);
  EXPECT_EQ(Rows(first_), (std::vector<std::string>{"m1 3 3 6 " + std::to_string(kMaxMicros)}));
  EXPECT_EQ(Rows(second_), (std::vector<std::string>{"m1 1 1 2 1"}));
}

// The largest budget a grant may have, with the largest alert percent: the line is reckoned without
// wrapping (10^18 micro-USD times 1000 exceeds int64), so the owner hears of each line crossed.
TEST_F(UsageRecorderTest, AlertLinesOfTheLargestBudgetAreCrossedWhereTheySay) {
  std::string grant = Approved(kMaxMicros / 10'000);
  RecorderOptions options;
  options.node_id = "node-1";
  options.alert_percents = {50, 100, 1000};
  options.clock = [] { return UnixSeconds{500}; };
  std::vector<std::string> heard;
  options.alert_sink = [&](const store::EventRecord& event) { heard.push_back(event.detail); };
  UsageRecorder recorder(*store_, pool_, timers_.get_executor(), options);
  recorder.Record(Row(grant, "m1", 1, kMaxMicros / 2 - 1));
  Flush(recorder);
  EXPECT_TRUE(heard.empty());
  recorder.Record(Row(grant, "m1", 1, 1));
  Flush(recorder);
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_NE(heard[0].find("\"percent\":50,"), std::string::npos) << heard[0];
}

// The row that fills a batch queues its flush once: calls that join the last row after it queue
// no more store jobs while the store thread is busy.
TEST_F(UsageRecorderTest, AFullBatchQueuesOneFlushHoweverManyCallsJoinItsLastRow) {
  RecorderOptions options;
  options.node_id = "node-1";
  UsageRecorder recorder(*store_, pool_, timers_.get_executor(), options);
  std::promise<void> release;
  boost::asio::post(pool_.Pool(), [done = release.get_future()] { done.wait(); });  // the store thread is busy
  for (size_t i = 0; i < UsageRecorder::kFlushRows; ++i) recorder.Record(Row(first_, "m" + std::to_string(i), 1, 1));
  EXPECT_EQ(pool_.Waiting(), 1);
  for (int i = 0; i < 50; ++i) recorder.Record(Row(first_, "m" + std::to_string(UsageRecorder::kFlushRows - 1), 1, 1));
  EXPECT_EQ(pool_.Waiting(), 1);
  release.set_value();
  pool_.Join();
  EXPECT_EQ(store_->Metering().TotalUsage(first_).value().requests, int64_t(UsageRecorder::kFlushRows + 50));
}
// Rows a failed write kept back are written by the next store job's FlushIfWaiting, so that what
// the owner reads after the store comes back includes them.
TEST_F(UsageRecorderTest, RowsAFailedWriteKeptBackAreWrittenByTheNextFlushIfWaiting) {
  RecorderOptions options;
  options.node_id = "node-1";
  UsageRecorder recorder(*store_, pool_, timers_.get_executor(), options);
  domain::Scope scope;
  scope.provider = "openai";
  scope.capabilities = {"chat"};
  auto later = domain::MakeGrantRequest("app", "https://app.example", "", scope, "hash", 100);
  later.grant.status = store::GrantStatus::kApproved;
  recorder.Record(Row(later.grant.id, "m1", 10, 100));
  Flush(recorder);  // refused: the grant is not in the store yet
  ASSERT_TRUE(store_->Grants().CreateGrantRequest(later.request, later.grant));
  EXPECT_TRUE(Rows(later.grant.id).empty());
  std::promise<void> done;
  boost::asio::post(pool_.Pool(), [&] {
    recorder.FlushIfWaiting();
    done.set_value();
  });
  done.get_future().get();
  EXPECT_EQ(Rows(later.grant.id), (std::vector<std::string>{"m1 1 10 20 100"}));
}
// A settlement the store applied but whose answer was lost (the connection dropped as it
// committed) is tried again as it was, with its id, and the store does not apply it twice.
TEST_F(UsageRecorderTest, ASettlementWhoseAnswerWasLostIsCountedOnce) {
  struct AnswerLosingStore : store::ForwardingStore, store::ForwardingMetering {
    explicit AnswerLosingStore(store::Store& inner) : ForwardingStore(inner), ForwardingMetering(inner.Metering()) {}
    bool lose_next = true;
    int settlements = 0;
    Result<std::vector<store::SpendChange>> Settle(std::string_view node_id, store::WriteId batch,
                                                   const std::vector<store::UsageRecord>& rows) override {
      ++settlements;
      auto settled = metering_.Settle(node_id, batch, rows);
      if (settled && std::exchange(lose_next, false)) return MakeError(Errc::kUnavailable, "connection lost");
      return settled;
    }
    store::MeteringStore& Metering() override { return *this; }
  } losing(*store_);
  ASSERT_TRUE(store_->Metering().Heartbeat("node-1", 100, 0));
  std::string budgeted = Approved(1);  // 10,000 micro-USD: the lost batch crosses its half
  RecorderOptions options;
  options.node_id = "node-1";
  options.alert_percents = {50};
  std::vector<std::string> alerts;
  options.alert_sink = [&](const store::EventRecord& e) { alerts.push_back(e.grant_id + " " + e.detail); };
  options.clock = [] { return UnixSeconds{100}; };
  UsageRecorder recorder(losing, pool_, timers_.get_executor(), options);
  recorder.Record(Row(budgeted, "m1", 10, 6000));
  Flush(recorder);
  EXPECT_TRUE(alerts.empty()) << "its answer was lost";
  recorder.Record(Row(budgeted, "m1", 5, 50));
  Flush(recorder);
  EXPECT_EQ(losing.settlements, 3) << "the lost one again, then the next";
  EXPECT_EQ(Rows(budgeted), (std::vector<std::string>{"m1 2 15 30 6050"}));
  EXPECT_EQ(store_->Grants().GetGrant(budgeted).value().spent_micros, 6050);
  EXPECT_EQ(alerts, (std::vector<std::string>{budgeted + R"( {"percent":50,"spentMicros":6000,"budgetMicros":10000})"}))
      << "the alert the lost answer would have raised, once";
}

// Each grant, day and model once, in key order, whatever the order and length of the rows: names
// short enough to live inside their strings, which moving a row empties, still meet.
TEST(MergedUsage, SumsTheRowsOfEachGrantDayAndModel) {
  auto row = [](std::string grant, std::string day, std::string model, int64_t input) {
    return store::UsageRecord{std::move(grant), std::move(day), std::move(model), 1, input, 1, 2, 3, 10 * input};
  };
  std::string long_grant(40, 'g');
  std::vector<store::UsageRecord> rows = {row("b", "d1", "m", 1),         row(long_grant, "d1", "m", 2),
                                          row("b", "d1", "m", 4),         row("b", "d2", "m", 8),
                                          row(long_grant, "d1", "m", 16), row("b", "d1", "n", 32)};
  std::vector<store::UsageRecord> merged = MergedUsage(rows);
  std::vector<std::string> seen;
  for (const auto& r : merged)
    seen.push_back(r.grant_id.substr(0, 2) + " " + r.day + " " + r.model + " " + std::to_string(r.requests) + " " +
                   std::to_string(r.input_tokens) + " " + std::to_string(r.cached_input_tokens) + " " +
                   std::to_string(r.output_tokens) + " " + std::to_string(r.audio_milliseconds) + " " +
                   std::to_string(r.cost_micros));
  EXPECT_EQ(seen, (std::vector<std::string>{"b d1 m 2 5 2 4 6 50", "b d1 n 1 32 1 2 3 320", "b d2 m 1 8 1 2 3 80",
                                            "gg d1 m 2 18 2 4 6 180"}));
}

// Money is summed checked: however many calls a backlog holds, a row's cost stops at kMaxMicros
// rather than wrapping negative, which the store would read as a refund.
TEST(MergedUsage, ACostStopsAtTheBoundInsteadOfWrapping) {
  std::vector<store::UsageRecord> rows(10000, store::UsageRecord{"g", "d", "m", 1, 1, 0, 1, 0, kMaxMicros});
  std::vector<store::UsageRecord> merged = MergedUsage(rows);
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].requests, 10000);
  EXPECT_EQ(merged[0].cost_micros, kMaxMicros);
}
}  // namespace
}  // namespace ap::metering
