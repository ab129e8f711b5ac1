#include "api/device_authorizations.hpp"

#include <gtest/gtest.h>

namespace ap::api {
namespace {

TEST(DeviceAuthorizationsTest, PollingFollowsThePersonsDecisionAndTheInterval) {
  DeviceAuthorizations devices;
  DeviceAuthorization d;
  d.client_id = "cli";
  d.user_code = "BCDFGHJK";
  d.expires_at = 1600;
  devices.Put("h", d);
  std::string grant;
  int64_t interval = 0;
  EXPECT_EQ(devices.Poll("h", "other-client", 1000, grant, interval), DevicePoll::kUnknown);
  EXPECT_EQ(devices.Poll("h", "cli", 1000, grant, interval), DevicePoll::kPending);
  EXPECT_EQ(devices.Poll("h", "cli", 1002, grant, interval), DevicePoll::kSlowDown);
  EXPECT_EQ(interval, 10);
  EXPECT_EQ(devices.Poll("h", "cli", 1012, grant, interval), DevicePoll::kPending);
  auto waiting = devices.FindWaiting("BCDFGHJK", 1013);
  ASSERT_TRUE(waiting);
  devices.AttachGrant(waiting->first, "g1");
  EXPECT_FALSE(devices.FindWaiting("BCDFGHJK", 1013)) << "a code is entered once";
  EXPECT_TRUE(devices.Decide("g1", true));
  EXPECT_EQ(devices.Poll("h", "cli", 1030, grant, interval), DevicePoll::kApproved);
  EXPECT_EQ(grant, "g1");
  EXPECT_EQ(devices.Poll("h", "cli", 1050, grant, interval), DevicePoll::kUsed) << "the device code is single-use";
}

TEST(DeviceAuthorizationsTest, DeniedAndExpired) {
  DeviceAuthorizations devices;
  DeviceAuthorization d;
  d.client_id = "cli";
  d.user_code = "XXXXXXXX";
  d.grant_id = "g2";
  d.expires_at = 1600;
  devices.Put("h", d);
  EXPECT_TRUE(devices.Decide("g2", false));
  std::string grant;
  int64_t interval = 0;
  EXPECT_EQ(devices.Poll("h", "cli", 1000, grant, interval), DevicePoll::kDenied);
  devices.Put("late", d);
  EXPECT_EQ(devices.Poll("late", "cli", 1601, grant, interval), DevicePoll::kExpired);
  EXPECT_FALSE(devices.FindWaiting("XXXXXXXX", 1601));
}

// Finding 7: outsiders add device requests; the table stops at its bound instead of growing, and
// lapsed requests make room again.
TEST(DeviceAuthorizationsTest, BoundedLiveRequestsAreNeverDroppedForNewOnes) {
  DeviceAuthorizations devices;
  DeviceAuthorization d;
  d.client_id = "cli";
  d.expires_at = 1000 + DeviceAuthorizations::kLifetimeSeconds;
  for (size_t i = 0; i < DeviceAuthorizations::kMaxDevices; ++i) ASSERT_TRUE(devices.Put("h" + std::to_string(i), d));
  EXPECT_FALSE(devices.Put("one-more", d)) << "full: refused, not grown";
  EXPECT_EQ(devices.Size(), DeviceAuthorizations::kMaxDevices);
  std::string grant;
  int64_t interval = 0;
  EXPECT_EQ(devices.Poll("h0", "cli", 1001, grant, interval), DevicePoll::kPending) << "the first one is still kept";

  d.expires_at = 1000 + DeviceAuthorizations::kLifetimeSeconds * 2 + 1;  // asked once the others lapsed
  EXPECT_TRUE(devices.Put("later", d));
  EXPECT_EQ(devices.Size(), 1u);
}

}  // namespace
}  // namespace ap::api
