#include "ui/svg_chart.hpp"

#include <gtest/gtest.h>

#include <regex>

#include "ui/format.hpp"

namespace ap::ui {
namespace {

ChartSpec Spend() {
  ChartSpec spec;
  spec.id = "spend";
  spec.title = "Spend per day";
  spec.unit = "US dollars";
  spec.x_label = "Day (UTC)";
  spec.columns = {"2026-11-29", "2026-11-30"};
  spec.format = Usd;
  return spec;
}

size_t CountOf(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(SvgChart, EachSegmentHasATitleWithDaySeriesAndValue) {
  std::string svg = StackedBarChart(
      Spend(), {{"2026-11-30", "gpt-4o", 420'000}, {"2026-11-30", "gpt-4o-mini", 10'000}, {"2026-11-29", "gpt-4o", 1}});
  EXPECT_NE(svg.find("<title>2026-11-30 gpt-4o $0.42</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>2026-11-30 gpt-4o-mini $0.01</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>2026-11-29 gpt-4o &lt;$0.01</title>"), std::string::npos);
  EXPECT_EQ(CountOf(svg, "<rect class=\"bar\""), 3u);
  EXPECT_NE(svg.find("Spend per day (US dollars)"), std::string::npos);
  EXPECT_NE(svg.find(">US dollars</text>"), std::string::npos);
  EXPECT_NE(svg.find(">Day (UTC)</text>"), std::string::npos);
}

TEST(SvgChart, BarsAreStackedInProportion) {
  // 0.42 + 0.08 = 0.50 on a $0.50 axis: the stack fills the plot (200 px high) exactly.
  std::string svg = StackedBarChart(Spend(), {{"2026-11-30", "gpt-4o", 420'000}, {"2026-11-30", "o1", 80'000}});
  std::smatch m;

  ASSERT_TRUE(std::regex_search(svg, m, std::regex("height=\"([0-9.]+)\"[^>]*data-series=\"gpt-4o\"")));
  EXPECT_EQ(m[1], "168");
  ASSERT_TRUE(std::regex_search(svg, m, std::regex("height=\"([0-9.]+)\"[^>]*data-series=\"o1\"")));
  EXPECT_EQ(m[1], "32");
  EXPECT_NE(svg.find(">$0.50</text>"), std::string::npos) << "the axis top";
  EXPECT_NE(svg.find(">$0.00</text>"), std::string::npos);
}

TEST(SvgChart, SeriesNamesAreEscaped) {
  std::string svg = StackedBarChart(Spend(), {{"2026-11-30", "<script>x</script>", 5}});
  EXPECT_EQ(svg.find("<script>"), std::string::npos);
  EXPECT_NE(svg.find("&lt;script&gt;"), std::string::npos);
}

TEST(SvgChart, AnEmptyPeriodStillHasAxesAndSaysSo) {
  std::string svg = StackedBarChart(Spend(), {{"2026-11-01", "gpt-4o", 5}});  // not a column
  EXPECT_EQ(CountOf(svg, "<rect class=\"bar\""), 0u);
  EXPECT_NE(svg.find("Nothing in this period."), std::string::npos);
  EXPECT_NE(svg.find("class=\"axis\""), std::string::npos);
}

TEST(SvgChart, NiceCeiling) {
  EXPECT_EQ(NiceCeiling(0), 1);
  EXPECT_EQ(NiceCeiling(7), 10);
  EXPECT_EQ(NiceCeiling(10), 10);
  EXPECT_EQ(NiceCeiling(11), 20);
  EXPECT_EQ(NiceCeiling(420'001), 500'000);
  EXPECT_EQ(NiceCeiling(2'000'001), 5'000'000);
}

}  // namespace
}  // namespace ap::ui
