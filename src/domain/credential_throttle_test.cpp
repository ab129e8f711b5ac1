#include "domain/credential_throttle.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "domain/keyed_throttle.hpp"

namespace ap::domain {
namespace {

using Throttle = CredentialThrottle;

void Fail(Throttle& throttle, std::string_view address, int64_t now, int64_t times) {
  for (int64_t i = 0; i < times; ++i) throttle.Begin(address, now).Failed();
}

TEST(CredentialThrottle, AnAddressGetsItsFreeFailuresThenOneSlowedCheckAtATime) {
  Throttle throttle;
  Fail(throttle, "203.0.113.7", 100, Throttle::kFreeFailures - 1);
  EXPECT_EQ(throttle.Begin("203.0.113.7", 100).delay_millis, 0) << "still free";
  Fail(throttle, "203.0.113.7", 100, 1);

  auto slowed = throttle.Begin("203.0.113.7", 100);
  ASSERT_FALSE(slowed.Refused());
  EXPECT_EQ(slowed.delay_millis, kFirstDelayMillis);
  auto second = throttle.Begin("::ffff:203.0.113.7", 100);
  EXPECT_TRUE(second.Refused()) << "one slowed check at a time, keyed as the throttles key";
  EXPECT_EQ(second.retry_after_seconds, 1);
  EXPECT_EQ(throttle.Begin("198.51.100.1", 100).delay_millis, 0) << "another address is not slowed";
  slowed.Failed();
  EXPECT_FALSE(throttle.Begin("203.0.113.7", 100).Refused()) << "the next one runs once it ends";
}

TEST(CredentialThrottle, TheDelayDoublesWithFailuresUpToItsLongestAndTheWindowEndsIt) {
  Throttle throttle;
  Fail(throttle, "2001:db8::1", 100, Throttle::kFreeFailures);
  std::vector<int64_t> delays;
  for (int step = 0; step < 7; ++step) {
    delays.push_back(throttle.Begin("2001:db8::2", 100).delay_millis);  // the same /64
    Fail(throttle, "2001:db8::1", 100, Throttle::kFailuresPerDoubling);
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{1000, 2000, 4000, 8000, 8000, 8000, 8000}));
  EXPECT_EQ(throttle.Begin("2001:db8::1", 100 + Throttle::kWindowSeconds).delay_millis, 0)
      << "the window's failures are forgotten when it ends";
}

TEST(CredentialThrottle, ASuccessClearsNothingAndABurstIsSlowedBeforeAnyIsJudgedButNeverRefused) {
  Throttle throttle;
  Fail(throttle, "203.0.113.7", 100, Throttle::kFreeFailures);
  { auto right = throttle.Begin("203.0.113.7", 100); }  // the right credential: not counted, clears nothing
  EXPECT_EQ(throttle.Begin("203.0.113.7", 100).delay_millis, kFirstDelayMillis);

  std::vector<Throttle::Attempt> burst;
  for (int64_t i = 0; i < Throttle::kFreeInFlight; ++i) burst.push_back(throttle.Begin("198.51.100.9", 100));
  for (const auto& attempt : burst) EXPECT_EQ(attempt.delay_millis, 0);
  for (int i = 0; i < 3; ++i) {
    burst.push_back(throttle.Begin("198.51.100.9", 100));
    EXPECT_FALSE(burst.back().Refused()) << "an address that did not guess is never refused";
    EXPECT_EQ(burst.back().delay_millis, kFirstDelayMillis) << "guesses sent together count before they are judged";
  }
  burst.clear();
  EXPECT_EQ(throttle.Tracked(), 1u) << "an address with nothing in flight and no failure is forgotten";
}

TEST(CredentialThrottle, AWindowStartsWithItsFirstFailure) {
  Throttle throttle;
  { auto quiet = throttle.Begin("203.0.113.7", 100); }
  Fail(throttle, "203.0.113.7", 600, Throttle::kFreeFailures);
  EXPECT_EQ(throttle.Begin("203.0.113.7", 600 + Throttle::kWindowSeconds - 1).delay_millis, kFirstDelayMillis)
      << "15 minutes from the first failure, not from the first attempt or from 0";
  EXPECT_EQ(throttle.Begin("203.0.113.7", 600 + Throttle::kWindowSeconds).delay_millis, 0);
}

TEST(CredentialThrottle, AFullTableSlowsNewAddressesTogetherAndNeverRefusesThemAtOnce) {
  Throttle throttle(2);
  Fail(throttle, "203.0.113.1", 100, 1);
  Fail(throttle, "203.0.113.2", 101, 1);
  {
    auto untracked = throttle.Begin("203.0.113.3", 100);
    ASSERT_FALSE(untracked.Refused());
    EXPECT_EQ(untracked.delay_millis, kFirstDelayMillis);
    EXPECT_TRUE(throttle.Begin("203.0.113.4", 100).Refused()) << "untracked addresses share one slowed check";
    EXPECT_EQ(throttle.Begin("203.0.113.1", 100).delay_millis, 0) << "a tracked address keeps its own count";
  }
  EXPECT_EQ(throttle.Begin("203.0.113.5", 100 + Throttle::kWindowSeconds).delay_millis, 0) << "ended windows make room";
}

}  // namespace
}  // namespace ap::domain
