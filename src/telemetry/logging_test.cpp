#include "telemetry/logging.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace ap::telemetry {
namespace {

TEST(Logging, AJsonLineParsesAndEscapes) {
  auto at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764522000123));
  std::string line = JsonLine(at, "warning", "a \"quoted\"\nline\x01", "\"n\":1");
  auto v = boost::json::parse(line).as_object();
  EXPECT_EQ(v.at("time").as_string(), "2025-11-30T17:00:00.123Z");
  EXPECT_EQ(v.at("level").as_string(), "warning");
  EXPECT_EQ(v.at("msg").as_string(), "a \"quoted\"\nline\x01");
  EXPECT_EQ(v.at("n").as_int64(), 1);
}

TEST(Logging, RequestFieldsNameEveryMember) {
  RequestLine r{"abc", "POST", "/grants/:id/approve", 200, 12, 7, "g-1"};
  auto v = boost::json::parse("{" + RequestFields(r) + "}").as_object();
  EXPECT_EQ(v.at("request_id").as_string(), "abc");
  EXPECT_EQ(v.at("route").as_string(), "/grants/:id/approve");
  EXPECT_EQ(v.at("status").as_int64(), 200);
  EXPECT_EQ(v.at("duration_ms").as_int64(), 12);
  EXPECT_EQ(v.at("upstream_ms").as_int64(), 7);
  EXPECT_EQ(v.at("grant_id").as_string(), "g-1");
  RequestLine none{"x", "GET", "", 404, 0, std::nullopt, ""};
  auto n = boost::json::parse("{" + RequestFields(none) + "}").as_object();
  EXPECT_TRUE(n.at("route").is_null());
  EXPECT_TRUE(n.at("upstream_ms").is_null());
  EXPECT_TRUE(n.at("grant_id").is_null());
}

}  // namespace
}  // namespace ap::telemetry
