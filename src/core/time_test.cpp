#include "core/time.hpp"

#include <gtest/gtest.h>

namespace ap {
namespace {

TEST(Iso8601, FormatsLikeJavaScriptToIsoString) {
  EXPECT_EQ(FormatIso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601(1795860000), "2026-11-28T10:00:00.000Z");
}

TEST(Iso8601, MillisRoundTrip) {
  EXPECT_EQ(FormatIso8601Millis(1795860000123), "2026-11-28T10:00:00.123Z");
  EXPECT_EQ(ParseIso8601Millis("2026-11-28T10:00:00.123Z"), 1795860000123);
  EXPECT_EQ(ParseIso8601Millis("2026-11-28T10:00:00Z"), 1795860000000);
  EXPECT_EQ(ParseIso8601Millis("2026-11-28T11:00:00+01:00"), 1795860000000);
  EXPECT_EQ(ParseIso8601Millis("2026-11-28"), 1795824000000);
  EXPECT_EQ(ParseIso8601Millis("1970-01-01T00:00:00.5Z"), 500);
}

TEST(Iso8601, RefusesWhatIsNotADate) {
  for (const char* bad : {"", "2026", "2026-13-01", "2026-11-28T10:00:00", "2026-11-28T25:00:00Z",
                          "2026-11-28T10:00:00Zjunk", "yesterday", "2026-11-28T10:00:00.Z"})
    EXPECT_FALSE(ParseIso8601Millis(bad)) << bad;
}

}  // namespace
}  // namespace ap
