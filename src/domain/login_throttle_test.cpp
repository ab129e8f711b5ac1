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

}  // namespace
}  // namespace ap::domain
