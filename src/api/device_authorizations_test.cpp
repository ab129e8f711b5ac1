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

}  // namespace
}  // namespace ap::api
