#include "api/owner_session.hpp"

#include <gtest/gtest.h>

namespace ap::api {
namespace {

TEST(SessionEnded, AfterThirtyIdleMinutes) {
  store::SessionRecord s{"h", "o", "csrf", 1000, 1000};
  EXPECT_FALSE(SessionEnded(s, 1000 + 30 * 60));
  EXPECT_TRUE(SessionEnded(s, 1000 + 30 * 60 + 1));
}

TEST(SessionEnded, TwelveHoursAfterSignInHoweverBusy) {
  store::SessionRecord s{"h", "o", "csrf", 1000, 1000};
  s.last_seen_at = 1000 + 12 * 3600;  // active a moment ago
  EXPECT_FALSE(SessionEnded(s, 1000 + 12 * 3600));
  EXPECT_TRUE(SessionEnded(s, 1000 + 12 * 3600 + 1));
}

}  // namespace
}  // namespace ap::api
