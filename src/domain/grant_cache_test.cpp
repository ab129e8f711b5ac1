#include "domain/grant_cache.hpp"

#include <gtest/gtest.h>

namespace ap::domain {
namespace {

Grant Make(const std::string& id, GrantStatus status, int64_t version = 1) {
  Grant g;
  g.record.id = id;
  g.record.status = status;
  g.record.version = version;
  g.scope.provider = "openai";
  return g;
}

TEST(GrantCache, KeepsTheNewestVersion) {
  GrantCache cache;
  EXPECT_EQ(cache.Find("g"), nullptr);
  cache.Put(Make("g", GrantStatus::kApproved));
  auto held = cache.Find("g");
  ASSERT_NE(held, nullptr);
  cache.Put(Make("g", GrantStatus::kRevoked, 2));
  EXPECT_EQ(cache.Find("g")->record.status, GrantStatus::kRevoked);
  auto kept = cache.Put(Make("g", GrantStatus::kApproved, 1));  // a stale read arriving late
  EXPECT_EQ(kept->record.status, GrantStatus::kRevoked) << "Put returns the newer grant it kept";
  EXPECT_EQ(cache.Find("g")->record.status, GrantStatus::kRevoked);
  EXPECT_EQ(held->record.status, GrantStatus::kApproved);  // readers keep a consistent snapshot
  auto put = cache.Put(Make("g", GrantStatus::kApproved, 3));
  cache.Forget("g");  // as the change follower may, between a Put and the caller's use of it
  ASSERT_NE(put, nullptr);
  EXPECT_EQ(put->record.status, GrantStatus::kApproved);
  EXPECT_EQ(cache.Find("g"), nullptr);
}

// After the database went back, a grant read from it replaces the one cached from the lost history
// once, whatever their versions; from then on the newer version wins again.
TEST(GrantCache, ANewTimelineTakesTheGrantReadNextWhateverItsVersion) {
  GrantCache cache;
  cache.Put(Make("g", GrantStatus::kApproved, 5));
  cache.NewTimeline();
  EXPECT_EQ(cache.Put(Make("g", GrantStatus::kRevoked, 3))->record.status, GrantStatus::kRevoked);
  EXPECT_EQ(cache.Put(Make("g", GrantStatus::kApproved, 2))->record.status, GrantStatus::kRevoked);
  EXPECT_EQ(cache.Find("g")->record.version, 3);
}

TEST(Grant, ApprovedGrantPastItsExpiryIsExpired) {
  store::GrantRecord r;
  r.status = GrantStatus::kApproved;
  r.expires_at = 1000;
  EXPECT_EQ(EffectiveStatus(r, 999), GrantStatus::kApproved);
  EXPECT_FALSE(UnusableReason(r, 999));
  EXPECT_EQ(EffectiveStatus(r, 1000), GrantStatus::kExpired);
  EXPECT_EQ(UnusableReason(r, 1000)->message, "Associated grant has expired");
  r.status = GrantStatus::kPending;
  EXPECT_EQ(EffectiveStatus(r, 1000), GrantStatus::kExpired);  // a request nobody decided on lapses
  EXPECT_EQ(EffectiveStatus(r, 999), GrantStatus::kPending);
  r.status = GrantStatus::kRevoked;
  EXPECT_EQ(UnusableReason(r, 0)->message, "Grant status is 'revoked'");
}

}  // namespace
}  // namespace ap::domain
