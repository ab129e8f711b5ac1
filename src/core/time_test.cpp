#include "core/time.hpp"

#include <gtest/gtest.h>

namespace ap {
namespace {

TEST(Iso8601, FormatsLikeJavaScriptToIsoString) {
  EXPECT_EQ(FormatIso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601(1795860000), "2026-11-28T10:00:00.000Z");
}

}  // namespace
}  // namespace ap
