#include "domain/keyed_throttle.hpp"

#include <gtest/gtest.h>

namespace ap::domain {
namespace {

using Verdict = Admission::Verdict;

TEST(KeyedThrottleTest, EachKeyHasItsAllowancePerWindow) {
  KeyedThrottle t(3, 60, 100);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(t.Take("10.0.0.1", 1000).Allowed());
  Admission refused = t.Take("10.0.0.1", 1010);
  EXPECT_EQ(refused.verdict, Verdict::kThrottled);
  EXPECT_EQ(refused.retry_after, 50) << "until the key's window ends";
  EXPECT_TRUE(t.Take("10.0.0.2", 1010).Allowed()) << "another key has its own allowance";
  EXPECT_TRUE(t.Take("10.0.0.1", 1060).Allowed()) << "a new window, a new allowance";
}

// Finding 7: a flood of new keys (addresses, names) fills the table and is refused; it never
// pushes out a key whose window is live, which would give that key a fresh allowance.
TEST(KeyedThrottleTest, ANewKeyIsRefusedWhenEverySlotIsLiveAndAdmittedOnceOneEnds) {
  KeyedThrottle t(1, 60, 3);
  EXPECT_TRUE(t.Take("a", 1000).Allowed());
  EXPECT_TRUE(t.Take("b", 1010).Allowed());
  EXPECT_TRUE(t.Take("c", 1020).Allowed());
  Admission full = t.Take("d", 1030);
  EXPECT_EQ(full.verdict, Verdict::kFull);
  EXPECT_EQ(full.retry_after, 30) << "until the earliest window ends";
  EXPECT_EQ(t.Take("e", 1031).verdict, Verdict::kFull);
  EXPECT_EQ(t.Take("a", 1030).verdict, Verdict::kThrottled) << "the spent key is still remembered";
  EXPECT_EQ(t.Size(), 3u);
  EXPECT_TRUE(t.Take("d", 1060).Allowed()) << "a's window ended: its slot is free";
  EXPECT_EQ(t.Size(), 3u);
}

TEST(KeyedThrottleTest, LongKeysCostNoMoreThanShortOnes) {
  KeyedThrottle t(1, 60, 10);
  std::string long_key(1 << 20, 'x');
  EXPECT_TRUE(t.Take(long_key, 1000).Allowed());
  EXPECT_EQ(t.Take(long_key, 1000).verdict, Verdict::kThrottled);
  long_key.back() = 'y';
  EXPECT_TRUE(t.Take(long_key, 1000).Allowed());
}

TEST(AddressKeyTest, Ipv6CountsByItsSlash64AndMappedIpv4AsIpv4) {
  EXPECT_EQ(AddressKey("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(AddressKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(AddressKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  EXPECT_NE(AddressKey("2001:db8:1:3::1"), AddressKey("2001:db8:1:2::1"));
  EXPECT_EQ(AddressKey("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(AddressKey(""), "");
}

}  // namespace
}  // namespace ap::domain
