#include "http/json_text.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <limits>

namespace ap::http {
namespace {
namespace json = boost::json;

TEST(JsonText, WritesDoublesAsPlainDecimals) {
  EXPECT_EQ(JsonText(json::value(0.0)), "0");
  EXPECT_EQ(JsonText(json::value(1.5)), "1.5");
  EXPECT_EQ(JsonText(json::value(10.0)), "10");
  EXPECT_EQ(JsonText(json::value(3.25)), "3.25");
  EXPECT_EQ(JsonText(json::value(std::numeric_limits<double>::infinity())), "null");
  EXPECT_EQ(json::parse(JsonText(json::value(1e300))).as_double(), 1e300);
}

TEST(JsonText, WritesEverythingElseAsBoostJsonDoes) {
  json::value v = json::parse(
      R"({"a":[1,-2,18446744073709551615,true,false,null],"b":"quote \" slash \\ nl \n \u0001 é","":{}, "c":[]})");
  EXPECT_EQ(JsonText(v), json::serialize(v));
  EXPECT_EQ(json::parse(JsonText(v)), v);
}

}  // namespace
}  // namespace ap::http
