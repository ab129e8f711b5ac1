#include "core/time.hpp"

#include <gtest/gtest.h>

namespace ap {
namespace {

TEST(Iso8601, FormatsLikeJavaScriptToIsoString) {
  EXPECT_EQ(FormatIso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601(1795860000), "2026-11-28T10:00:00.000Z");
}

TEST(Iso8601, ParsesWhatItFormats) {
  EXPECT_EQ(ParseIso8601(FormatIso8601(1795860123)), 1795860123);
  EXPECT_EQ(ParseIso8601("2026-11-28T10:00:00Z"), 1795860000);
  EXPECT_FALSE(ParseIso8601("2026-11-28 10:00:00"));
  EXPECT_FALSE(ParseIso8601("yesterday"));
}

}  // namespace
}  // namespace ap
