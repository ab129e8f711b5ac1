#include "api/pending_authorizations.hpp"

#include <gtest/gtest.h>

namespace ap::api {
namespace {

// Finding 7: the table of requests waiting on the consent screen stops at its bound, keeps the
// live ones, and takes new ones again once the old ones lapsed.
TEST(PendingAuthorizationsTest, BoundedLiveRequestsAreNeverDroppedForNewOnes) {
  PendingAuthorizations pending;
  PendingAuthorization p{"client", "http://127.0.0.1/cb", "", "challenge", 3600, 1000 + 600};
  for (size_t i = 0; i < PendingAuthorizations::kMaxPending; ++i) ASSERT_TRUE(pending.Put("g" + std::to_string(i), p));
  EXPECT_FALSE(pending.Put("one-more", p)) << "full: refused, not grown";
  EXPECT_TRUE(pending.Find("g0")) << "the first one is still kept";
  EXPECT_FALSE(pending.Find("one-more"));

  p.expires_at = 1000 + 2 * 600 + 1;  // asked once the others lapsed
  EXPECT_TRUE(pending.Put("later", p));
  EXPECT_FALSE(pending.Find("g0"));
  EXPECT_TRUE(pending.Take("later", 1700));
}

}  // namespace
}  // namespace ap::api
