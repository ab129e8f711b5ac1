#include "metering/meter.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <thread>

#include "store/sqlite/sqlite_store.hpp"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"  // Ask{.need_micros = ...}

namespace ap::metering {
namespace {
namespace asio = boost::asio;

class MeterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ap-meter-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    store_ = store::OpenSqliteStore(dir_ / "db").value();
    ASSERT_TRUE(store_->Heartbeat("node-1", 100, 0));
  }
  void TearDown() override {
    pool_.Join();
    std::filesystem::remove_all(dir_);
  }

  domain::Grant Approved(std::optional<int64_t> budget_micros, std::optional<int64_t> max_requests,
                         domain::Scope scope = {}) {
    scope.provider = "openai";
    scope.capabilities = {"chat"};
    scope.max_requests = max_requests;
    auto r = domain::MakeGrantRequest("app", "https://app.example", "", scope, "hash", 100);
    r.grant.budget_micros = budget_micros;
    r.grant.status = store::GrantStatus::kApproved;
    EXPECT_TRUE(store_->CreateGrantRequest(r.request, r.grant));
    return domain::Grant{store_->GetGrant(r.grant.id).value(), scope};
  }

  // Runs `count` admissions at once on two threads; returns the tickets of those admitted.
  std::vector<Result<Ticket>> AdmitAtOnce(Meter& meter, const domain::Grant& grant, Ask ask, int count) {
    asio::io_context io;
    std::vector<std::optional<Result<Ticket>>> results(count);
    for (int i = 0; i < count; ++i) {
      auto run = [&, i]() -> asio::awaitable<void> {
        RateHeaders headers;
        results[i] = co_await meter.Admit(grant, ask, headers);
      };
      asio::co_spawn(io, run, asio::detached);
    }
    std::thread second([&] { io.run(); });
    io.run();
    second.join();
    std::vector<Result<Ticket>> out;
    for (auto& r : results) out.push_back(std::move(*r));
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  http::BlockingPool pool_{1};
};

int Admitted(const std::vector<Result<Ticket>>& results) {
  return static_cast<int>(std::count_if(results.begin(), results.end(), [](const auto& r) { return r.has_value(); }));
}

TEST_F(MeterTest, ConcurrentCallsNeverReserveMoreThanTheBudget) {
  Meter meter(*store_, pool_, {"node-1", 1000});
  auto grant = Approved(37 * 450, std::nullopt);
  auto results = AdmitAtOnce(meter, grant, {.need_micros = 450, .up_to_micros = 450}, 200);
  EXPECT_EQ(Admitted(results), 37);
  for (const auto& r : results)
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::kBudgetExceeded);
    }
  EXPECT_EQ(store_->GetGrant(grant.record.id)->leased_micros, 37 * 450);
}

TEST_F(MeterTest, ConcurrentCallsNeverTakeMoreThanTheCap) {
  Meter meter(*store_, pool_, {"node-1", 1000});
  auto grant = Approved(std::nullopt, 37);
  auto results = AdmitAtOnce(meter, grant, {}, 200);
  EXPECT_EQ(Admitted(results), 37);
  for (const auto& r : results)
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::kLimitReached);
    }
}

TEST_F(MeterTest, WhatACallDidNotUseGoesBack) {
  Meter meter(*store_, pool_, {"node-1", 1000});
  auto grant = Approved(1000, std::nullopt);
  auto first = AdmitAtOnce(meter, grant, {.need_micros = 1000, .up_to_micros = 1000}, 1);
  ASSERT_TRUE(first[0]);
  EXPECT_FALSE(AdmitAtOnce(meter, grant, {.need_micros = 1, .up_to_micros = 1}, 1)[0]);
  first[0]->Settle(300, 0);  // cost 300 of the 1000 reserved
  auto second = AdmitAtOnce(meter, grant, {.need_micros = 700, .up_to_micros = 700}, 1);
  EXPECT_TRUE(second[0]);
  EXPECT_FALSE(AdmitAtOnce(meter, grant, {.need_micros = 1, .up_to_micros = 1}, 1)[0]);
}

TEST_F(MeterTest, AStreamStartsWithWhatIsLeft) {
  Meter meter(*store_, pool_, {"node-1", 1000});
  auto grant = Approved(500, std::nullopt);
  auto results = AdmitAtOnce(meter, grant, {.need_micros = 100, .up_to_micros = 5000}, 1);
  ASSERT_TRUE(results[0]);
  EXPECT_EQ(results[0]->ReservedMicros(), 500);
}

TEST_F(MeterTest, RequestsPerMinuteAreABucketWithRetryAfter) {
  Meter meter(*store_, pool_, {"node-1", 1000});
  domain::Scope scope;
  scope.rate_limit = 3;
  auto grant = Approved(std::nullopt, std::nullopt, scope);
  auto results = AdmitAtOnce(meter, grant, {}, 4);
  EXPECT_EQ(Admitted(results), 3);
  for (const auto& r : results)
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::kRateLimited);
      // One request comes back every 20 s.
      EXPECT_GE(r.error().retry_after_seconds, 19);
      EXPECT_LE(r.error().retry_after_seconds, 20);
    }
}

TEST_F(MeterTest, TokensPerMinuteAreChargedWithTheWorstCaseAndCorrectedAfter) {
  Meter meter(*store_, pool_, {"node-1", 1000});
  domain::Scope scope;
  scope.max_tokens_per_minute = 1000;
  auto grant = Approved(std::nullopt, std::nullopt, scope);
  auto first = AdmitAtOnce(meter, grant, {.tokens = 800}, 1);
  ASSERT_TRUE(first[0]);
  auto refused = AdmitAtOnce(meter, grant, {.tokens = 800}, 1);
  ASSERT_FALSE(refused[0]);
  EXPECT_EQ(refused[0].error().code, Errc::kRateLimited);
  EXPECT_GE(refused[0].error().retry_after_seconds, 35);  // 600 tokens at 1000 a minute
  first[0]->Settle(0, 100);                               // it used 100 of the 800
  EXPECT_TRUE(AdmitAtOnce(meter, grant, {.tokens = 800}, 1)[0]);
}

TEST_F(MeterTest, CallsInFlightAreCapped) {
  Meter meter(*store_, pool_, {"node-1", 1000});
  domain::Scope scope;
  scope.max_concurrent = 2;
  auto grant = Approved(std::nullopt, std::nullopt, scope);
  auto results = AdmitAtOnce(meter, grant, {}, 3);
  EXPECT_EQ(Admitted(results), 2);
  for (auto& r : results)
    if (r) {
      r->Settle(0, 0);
      break;
    }
  EXPECT_TRUE(AdmitAtOnce(meter, grant, {}, 1)[0]);  // a slot came free
}

TEST_F(MeterTest, IdleLeasesGoBackToTheStore) {
  Meter meter(*store_, pool_, {"node-1", 1000});
  auto grant = Approved(100'000, std::nullopt);
  auto results = AdmitAtOnce(meter, grant, {.need_micros = 100, .up_to_micros = 100}, 1);
  ASSERT_TRUE(results[0]);
  EXPECT_GT(store_->GetGrant(grant.record.id)->leased_micros, 100);  // a slice for more calls
  results[0]->Settle(100, 0);
  ASSERT_TRUE(store_->Settle("node-1", {{grant.record.id, "2026-11-28", "gpt-4o-mini", 1, 0, 0, 0, 0, 100}}));
  meter.ReturnIdleLeases(std::chrono::seconds(0));
  auto g = store_->GetGrant(grant.record.id).value();
  EXPECT_EQ(g.leased_micros, 0);
  EXPECT_EQ(g.spent_micros, 100);
}

TEST(ResetTime, WrittenLikeOpenAI) {
  EXPECT_EQ(FormatResetTime(250), "250ms");
  EXPECT_EQ(FormatResetTime(1000), "1s");
  EXPECT_EQ(FormatResetTime(360'000), "6m0s");
}

}  // namespace
}  // namespace ap::metering
