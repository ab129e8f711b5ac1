#include "domain/login_throttle.hpp"

#include <gtest/gtest.h>

namespace ap::domain {
namespace {

TEST(LoginThrottleTest, FreeFailuresThenDoublingWaitsPerAccount) {
  LoginThrottle t;
  for (int i = 0; i < LoginThrottle::kFreeAccountFailures; ++i) {
    EXPECT_EQ(t.WaitSeconds("alice", "10.0.0.1", 1000), 0);
    t.RecordFailure("alice", "10.0.0.1", 1000);
  }
  EXPECT_EQ(t.WaitSeconds("alice", "10.0.0.9", 1000), 30) << "another address does not help";
  EXPECT_EQ(t.WaitSeconds("alice", "10.0.0.9", 1020), 10);
  EXPECT_EQ(t.WaitSeconds("alice", "10.0.0.9", 1030), 0);
  t.RecordFailure("alice", "10.0.0.9", 1030);
  EXPECT_EQ(t.WaitSeconds("alice", "10.0.0.9", 1030), 60);
  for (int i = 0; i < 20; ++i) t.RecordFailure("alice", "10.0.0.9", 1100);
  EXPECT_EQ(t.WaitSeconds("alice", "10.0.0.9", 1100), LoginThrottle::kLongestWaitSeconds);
  EXPECT_EQ(t.WaitSeconds("bob", "10.0.0.7", 1100), 0) << "other accounts from other addresses are free";
}

TEST(LoginThrottleTest, OneAddressGuessingManyAccountsIsSlowedToo) {
  LoginThrottle t;
  for (int i = 0; i < LoginThrottle::kFreeAddressFailures; ++i)
    t.RecordFailure("user" + std::to_string(i), "10.0.0.66", 500);
  EXPECT_EQ(t.WaitSeconds("someone-new", "10.0.0.66", 500), 30);
}

TEST(LoginThrottleTest, SuccessAndTimeForgive) {
  LoginThrottle t;
  for (int i = 0; i < 7; ++i) t.RecordFailure("alice", "a", 100);
  EXPECT_GT(t.WaitSeconds("alice", "b", 100), 0);
  t.RecordSuccess("alice");
  EXPECT_EQ(t.WaitSeconds("alice", "b", 100), 0);
  for (int i = 0; i < LoginThrottle::kFreeAddressFailures; ++i) t.RecordFailure("y", "a", 100);
  t.RecordSuccess("y");
  EXPECT_GT(t.WaitSeconds("x", "a", 100), 0) << "a success clears the account, not the address";
  EXPECT_EQ(t.WaitSeconds("x", "a", 100 + LoginThrottle::kWindowSeconds + 1), 0);
}

// Finding 7: failures under ever new names from ever new addresses fill the table to its bound and
// no further; a live count is never dropped for a new name, which must wait instead.
TEST(LoginThrottleTest, BoundedAndNewNamesWaitWhileEveryCountIsLive) {
  LoginThrottle t;
  for (size_t i = 0; i < LoginThrottle::kMaxTracked / 2; ++i)
    t.RecordFailure("guess" + std::to_string(i), "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250),
                    1000);
  EXPECT_EQ(t.WaitSeconds("alice", "192.0.2.1", 1001), LoginThrottle::kFullWaitSeconds) << "full: a new name waits";
  for (int i = 0; i < LoginThrottle::kFreeAccountFailures - 1; ++i) t.RecordFailure("guess0", "10.1.0.0", 1001);
  EXPECT_EQ(t.WaitSeconds("guess0", "10.1.0.0", 1001), 30) << "the counts already kept still count";
  EXPECT_EQ(t.WaitSeconds("alice", "192.0.2.1", 1000 + LoginThrottle::kWindowSeconds + 2), 0)
      << "once the old counts lapsed there is room again";
}

TEST(LoginThrottleTest, AnIpv6AttackerCountsAsOneSlash64) {
  LoginThrottle t;
  for (int i = 0; i < LoginThrottle::kFreeAddressFailures; ++i)
    t.RecordFailure("user" + std::to_string(i), "2001:db8:0:1::" + std::to_string(i + 1), 500);
  EXPECT_EQ(t.WaitSeconds("someone-new", "2001:db8:0:1:ffff::9", 500), 30);
}

}  // namespace
}  // namespace ap::domain
