#include "ui/format.hpp"

#include <gtest/gtest.h>

namespace ap::ui {
namespace {

TEST(Format, DollarsRoundToTheNearestCent) {
  EXPECT_EQ(Usd(0), "$0.00");
  EXPECT_EQ(Usd(4'200'000), "$4.20");
  EXPECT_EQ(Usd(424'999), "$0.42");
  EXPECT_EQ(Usd(425'000), "$0.43");
  EXPECT_EQ(Usd(1'234'567'890), "$1,234.57");
  EXPECT_EQ(Usd(9'999), "$0.01");
  EXPECT_EQ(Usd(5'000), "$0.01");
}

TEST(Format, ASpendUnderHalfACentIsNotShownAsNothing) {
  EXPECT_EQ(Usd(1), "<$0.01");
  EXPECT_EQ(Usd(4'999), "<$0.01");
}

TEST(Format, CentsAndFormFields) {
  EXPECT_EQ(UsdCents(500), "$5.00");
  EXPECT_EQ(UsdCents(123456), "$1,234.56");
  EXPECT_EQ(CentsField(150), "1.50");
  EXPECT_EQ(CentsField(7), "0.07");
  EXPECT_EQ(CentsField(std::nullopt), "");
}

TEST(Format, CountsAreSeparatedAndPlural) {
  EXPECT_EQ(Count(0), "0");
  EXPECT_EQ(Count(999), "999");
  EXPECT_EQ(Count(1000), "1,000");
  EXPECT_EQ(Count(1234567), "1,234,567");
  EXPECT_EQ(Count(-1234), "-1,234");
  EXPECT_EQ(Counted(1, "request"), "1 request");
  EXPECT_EQ(Counted(2000, "request"), "2,000 requests");
}

TEST(Format, RelativeTimesUseTheLargestWholeUnit) {
  const UnixSeconds now = 1'800'000'000;
  EXPECT_EQ(Relative(now, now), "just now");
  EXPECT_EQ(Relative(now - 59, now), "just now");
  EXPECT_EQ(Relative(now + 30, now), "in under a minute");
  EXPECT_EQ(Relative(now - 3 * 3600 - 59, now), "3 hours ago");
  EXPECT_EQ(Relative(now - 60, now), "1 minute ago");
  EXPECT_EQ(Relative(now + 2 * 86400 + 5, now), "in 2 days");
  EXPECT_EQ(Relative(now + 86399, now), "in 23 hours");
  EXPECT_EQ(Span(7 * 86400), "7 days");
  EXPECT_EQ(Span(45), "45 seconds");
}

TEST(Format, DatesAreUtc) {
  EXPECT_EQ(When(1'796'043'180), "2026-11-30 12:53 UTC");
  EXPECT_EQ(Day(1'796'040'000), "2026-11-30");
}

TEST(Format, EmptyFactsAreLeftOut) {
  std::string html = Facts({{"App", "Notes"}, {"Home page", ""}, {"Reason", "summaries"}});
  EXPECT_EQ(html, "<dl class=\"facts\"><dt>App</dt><dd>Notes</dd><dt>Reason</dt><dd>summaries</dd></dl>");
  EXPECT_EQ(html.find("Home page"), std::string::npos);
  EXPECT_EQ(Facts({{"Home page", ""}}), "");
}

}  // namespace
}  // namespace ap::ui
