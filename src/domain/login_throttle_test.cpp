#include "domain/login_throttle.hpp"

#include <gtest/gtest.h>

#include <map>

#include "domain/keyed_throttle.hpp"

namespace ap::domain {
namespace {

// The counts as the store keeps them (store::FlowStore, tested in the store suite), here in a map:
// these tests pin the rule.
class Counts {
 public:
  LoginThrottle::Verdict Check(std::string_view account, std::string_view address, UnixSeconds now) {
    auto keys = LoginThrottle::KeysFor(account, address);
    return LoginThrottle::Judge(Live(keys.account, now), Live(keys.address, now), Live(keys.pair, now), now);
  }
  int64_t WaitSeconds(std::string_view account, std::string_view address, UnixSeconds now) {
    return Check(account, address, now).wait_seconds;
  }
  void RecordFailure(std::string_view account, std::string_view address, UnixSeconds now) {
    auto keys = LoginThrottle::KeysFor(account, address);
    for (const std::string& key : {keys.account, keys.address, keys.pair}) {
      LoginThrottle::Failures& f = counts_[key];
      if (now - f.last > LoginThrottle::kWindowSeconds) f.count = 0;
      ++f.count;
      f.last = now;
    }
  }
  void RecordSuccess(std::string_view account, std::string_view address) {
    counts_.erase(LoginThrottle::KeysFor(account, address).pair);
  }

 private:
  LoginThrottle::Failures Live(const std::string& key, UnixSeconds now) {
    auto it = counts_.find(key);
    if (it == counts_.end() || now - it->second.last > LoginThrottle::kWindowSeconds) return {};
    return it->second;
  }
  std::map<std::string, LoginThrottle::Failures> counts_;
};

TEST(LoginThrottleTest, FreeFailuresThenDoublingWaitsPerAccountAndAddress) {
  Counts t;
  for (int i = 0; i < LoginThrottle::kFreePairFailures; ++i) {
    EXPECT_EQ(t.WaitSeconds("alice", "10.0.0.1", 1000), 0);
    t.RecordFailure("alice", "10.0.0.1", 1000);
  }
  EXPECT_EQ(t.WaitSeconds("alice", "10.0.0.1", 1000), 30);
  EXPECT_EQ(t.WaitSeconds("alice", "10.0.0.1", 1020), 10);
  EXPECT_EQ(t.WaitSeconds("alice", "10.0.0.1", 1030), 0);
  t.RecordFailure("alice", "10.0.0.1", 1030);
  EXPECT_EQ(t.WaitSeconds("alice", "10.0.0.1", 1030), 60);
  for (int i = 0; i < 10; ++i) t.RecordFailure("alice", "10.0.0.1", 1100);
  EXPECT_EQ(t.WaitSeconds("alice", "10.0.0.1", 1100), LoginThrottle::kLongestWaitSeconds);
  EXPECT_EQ(t.WaitSeconds("bob", "10.0.0.7", 1100), 0) << "other accounts from other addresses are free";
}

// The lockout an attacker could otherwise cause: their guesses never refuse the owner's address.
TEST(LoginThrottleTest, AnAttackersFailuresNeitherRefuseNorSlowTheOwnersAddress) {
  Counts t;
  for (int i = 0; i < 200; ++i) t.RecordFailure("alice", "203.0.113.9", 1000 + i);
  EXPECT_GT(t.WaitSeconds("alice", "203.0.113.9", 1200), 0) << "the attacker's address is refused";
  LoginThrottle::Verdict owner = t.Check("alice", "192.0.2.1", 1200);
  EXPECT_EQ(owner.wait_seconds, 0);
  EXPECT_EQ(owner.delay_millis, 0);
}

// Many addresses, a few guesses each: none is refused for the account's sake, each is slowed.
TEST(LoginThrottleTest, TheAccountWideLimitOnlySlowsAddressesThatFailed) {
  Counts t;
  for (int i = 0; i < LoginThrottle::kFreeAccountFailures; ++i)
    t.RecordFailure("alice", "198.51.100." + std::to_string(i), 1000);
  LoginThrottle::Verdict guesser = t.Check("alice", "198.51.100.3", 1000);
  EXPECT_EQ(guesser.wait_seconds, 0) << "the account-wide limit never refuses";
  EXPECT_EQ(guesser.delay_millis, kFirstDelayMillis);
  EXPECT_EQ(t.Check("alice", "192.0.2.1", 1000).delay_millis, 0) << "an address without failures is not slowed";
  for (int i = 0; i < 100; ++i) t.RecordFailure("alice", "198.51.100." + std::to_string(i % 50), 1001);
  EXPECT_EQ(t.Check("alice", "198.51.100.3", 1001).delay_millis, kLongestDelayMillis);
  EXPECT_EQ(t.Check("alice", "198.51.100.3", 1001 + LoginThrottle::kWindowSeconds + 1).delay_millis, 0)
      << "time forgives";
}

TEST(LoginThrottleTest, OneAddressGuessingManyAccountsIsRefusedToo) {
  Counts t;
  for (int i = 0; i < LoginThrottle::kFreeAddressFailures; ++i)
    t.RecordFailure("user" + std::to_string(i), "10.0.0.66", 500);
  EXPECT_EQ(t.WaitSeconds("someone-new", "10.0.0.66", 500), 30);
  EXPECT_EQ(t.WaitSeconds("someone-new", "10.0.0.67", 500), 0);
}

TEST(LoginThrottleTest, SuccessAndTimeForgive) {
  Counts t;
  for (int i = 0; i < 7; ++i) t.RecordFailure("alice", "a", 100);
  EXPECT_GT(t.WaitSeconds("alice", "a", 100), 0);
  t.RecordSuccess("alice", "a");
  EXPECT_EQ(t.WaitSeconds("alice", "a", 100), 0);
  for (int i = 0; i < LoginThrottle::kFreeAddressFailures; ++i) t.RecordFailure("y", "b", 100);
  t.RecordSuccess("y", "b");
  EXPECT_GT(t.WaitSeconds("x", "b", 100), 0) << "a success clears the account at that address, not the address";
  EXPECT_EQ(t.WaitSeconds("x", "b", 100 + LoginThrottle::kWindowSeconds + 1), 0);
}

// The failures' times are the wall clock's (the store shares them between brokers): a clock set
// back an hour must not make the owner wait an hour.
TEST(LoginThrottleTest, AClockSetBackNeverMakesAWaitLonger) {
  Counts t;
  for (int i = 0; i < LoginThrottle::kFreePairFailures; ++i) t.RecordFailure("alice", "10.0.0.1", 10000);
  EXPECT_EQ(t.WaitSeconds("alice", "10.0.0.1", 10000 - 3600), 30);
  EXPECT_EQ(t.WaitSeconds("alice", "10.0.0.1", 10000 + 3600), 0) << "nor does one set forward add to it";
}

TEST(LoginThrottleTest, AnIpv6AttackerCountsAsOneSlash64) {
  Counts t;
  for (int i = 0; i < LoginThrottle::kFreeAddressFailures; ++i)
    t.RecordFailure("user" + std::to_string(i), "2001:db8:0:1::" + std::to_string(i + 1), 500);
  EXPECT_EQ(t.WaitSeconds("someone-new", "2001:db8:0:1:ffff::9", 500), 30);
}

}  // namespace
}  // namespace ap::domain
