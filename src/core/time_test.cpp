#include "core/time.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace ap {
namespace {

// The coarse clock is the wall clock, at most a tick behind it: never ahead, never a second late.
TEST(SystemNow, IsTheWallClockInWholeSeconds) {
  auto precise = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  for (int i = 0; i < 1000; ++i) {
    UnixSeconds before = precise();
    UnixSeconds now = SystemNow();
    UnixSeconds after = precise();
    ASSERT_LE(now, after);
    ASSERT_GE(now, before - 1);
  }
}

// The coarse monotonic clock is steady_clock's, at most a tick behind it.
TEST(CoarseClock, IsTheMonotonicClockATickBehind) {
  for (int i = 0; i < 1000; ++i) {
    auto before = std::chrono::steady_clock::now().time_since_epoch();
    auto now = CoarseClock::now().time_since_epoch();
    auto after = std::chrono::steady_clock::now().time_since_epoch();
    ASSERT_LE(now, after);
    ASSERT_GE(now, before - std::chrono::milliseconds(100));
  }
}

TEST(Iso8601, FormatsLikeJavaScriptToIsoString) {
  EXPECT_EQ(FormatIso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601(1795860000), "2026-11-28T10:00:00.000Z");
  EXPECT_EQ(FormatIso8601(951868799), "2000-02-29T23:59:59.000Z");
  EXPECT_EQ(FormatIso8601(-1), "1969-12-31T23:59:59.000Z");
  // Years beyond four digits, as `new Date(ms).toISOString()` writes them.
  EXPECT_EQ(FormatIso8601(-62167219200), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601(-62135596800), "0001-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601(-62167219201), "-000001-12-31T23:59:59.000Z");
  EXPECT_EQ(FormatIso8601(253402300799), "9999-12-31T23:59:59.000Z");
  EXPECT_EQ(FormatIso8601(253402300800), "+010000-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601Millis(8640000000000000), "+275760-09-13T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601Millis(-8640000000000000), "-271821-04-20T00:00:00.000Z");
  // Whatever an int64 holds is written, not wrapped.
  for (UnixSeconds t : {INT64_MIN, INT64_MAX}) EXPECT_FALSE(FormatIso8601(t).empty()) << t;
}

TEST(FormatDay, IsTheDateFormatIso8601Writes) {
  // Every day from 1965 to 2110 at several times of day, the edges of days, leap days and the
  // centuries among them, and years beyond four digits.
  for (UnixSeconds day = -5 * 365 * 86400LL; day < 140LL * 365 * 86400; day += 86400)
    for (UnixSeconds at : {day, day + 1, day + 43200, day + 86399})
      ASSERT_EQ(FormatDay(at), FormatIso8601(at).substr(0, 10)) << at;
  EXPECT_EQ(FormatDay(951782400), "2000-02-29");
  EXPECT_EQ(FormatDay(-1), "1969-12-31");
  // Years of other than four digits, and the edges of four.
  EXPECT_EQ(FormatDay(-30610224000LL - 1), "0999-12-31");
  EXPECT_EQ(FormatDay(253402300800LL), "+010000-01-01");
  EXPECT_EQ(FormatDay(-62167219200LL - 86400), "-000001-12-31");
}

TEST(Iso8601, MillisRoundTrip) {
  EXPECT_EQ(FormatIso8601Millis(1795860000123), "2026-11-28T10:00:00.123Z");
  EXPECT_EQ(ParseIso8601Millis("2026-11-28T10:00:00.123Z"), 1795860000123);
  EXPECT_EQ(ParseIso8601Millis("2026-11-28T10:00:00Z"), 1795860000000);
  EXPECT_EQ(ParseIso8601Millis("2026-11-28T11:00:00+01:00"), 1795860000000);
  EXPECT_EQ(ParseIso8601Millis("2026-11-28"), 1795824000000);
  EXPECT_EQ(ParseIso8601Millis("1970-01-01T00:00:00.5Z"), 500);
  // Before 1970 the milliseconds count on from the second before.
  EXPECT_EQ(FormatIso8601Millis(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatIso8601Millis(-1000), "1969-12-31T23:59:59.000Z");
  EXPECT_EQ(FormatIso8601Millis(-1001), "1969-12-31T23:59:58.999Z");
  EXPECT_EQ(FormatIso8601Millis(7), "1970-01-01T00:00:00.007Z");
}

TEST(Iso8601, RefusesWhatIsNotADate) {
  for (const char* bad : {"", "2026", "2026-13-01", "2026-11-28T10:00:00", "2026-11-28T25:00:00Z",
                          "2026-11-28T10:00:00Zjunk", "yesterday", "2026-11-28T10:00:00.Z"})
    EXPECT_FALSE(ParseIso8601Millis(bad)) << bad;
}

}  // namespace
}  // namespace ap
