#include "record/record_json.hpp"

#include <gtest/gtest.h>

namespace ap::record {
namespace {

// The CSV line of a row whose app has this name.
std::string LineOf(const std::string& app_name) {
  store::ActivityRecord row;
  row.app_name = app_name;
  return ActivityCsvLine(row);
}

// The app's name (third field), as its CSV line starts it (in quotes, when it holds a comma, a
// quote or a line break).
std::string AppNameField(const std::string& app_name) {
  std::string line = LineOf(app_name);
  size_t from = line.find(',', line.find(',') + 1) + 1;
  return line.substr(from, line.find(',', from) - from);
}

TEST(ActivityCsvTest, TextAnAppControlsNeverStartsAsAFormula) {
  for (std::string formula : {"=1+1", "+3+3", "-2+3", "@SUM(1)", "\t=1", "\r=1", " =2+2", "  @A1", "\n=1", "\u00a0=1+1",
                              "\u3000=1", "\u2003=1", "\ufeff=1", "\uff1d1+1", "\uff0b1", "\uff0d1", "\uff201"})
    EXPECT_TRUE(AppNameField(formula).starts_with("'") || AppNameField(formula).starts_with("\"'")) << formula;
  EXPECT_EQ(AppNameField("Notes"), "Notes");
  EXPECT_EQ(AppNameField(" Notes = good"), " Notes = good");
  EXPECT_NE(LineOf("a,=b").find(",\"a,=b\","), std::string::npos);
  EXPECT_NE(LineOf("=a,b").find(",\"'=a,b\","), std::string::npos);
}

}  // namespace
}  // namespace ap::record
