#include "api/paging.hpp"

#include <gtest/gtest.h>

namespace ap::api {
namespace {

TEST(PageLimit, TakesAWholeNumberInRangeOrRefuses) {
  EXPECT_EQ(PageLimit("/grants", 500, 1000).value(), 500);
  EXPECT_EQ(PageLimit("/grants?cursor=x", 500, 1000).value(), 500);
  EXPECT_EQ(PageLimit("/grants?limit=1", 500, 1000).value(), 1);
  EXPECT_EQ(PageLimit("/grants?limit=1000", 500, 1000).value(), 1000);
  for (const char* bad : {"/grants?limit=0", "/grants?limit=1001", "/grants?limit=-1", "/grants?limit=abc",
                          "/grants?limit=", "/grants?limit=5x", "/grants?limit=1e3", "/grants?limit=99999999999999999999"}) {
    auto limit = PageLimit(bad, 500, 1000);
    ASSERT_FALSE(limit) << bad;
    EXPECT_EQ(limit.error().code, Errc::kValidation) << bad;
    EXPECT_EQ(limit.error().field_errors.at(0).field, "limit");
  }
}

TEST(GrantCursor, RoundTripsAndRefusesWhatNoPageWrote) {
  store::GrantRecord last;
  last.created_at = 1764500000;
  last.id = "3f2c.id-with.dots";
  std::string text = GrantCursorText(last);
  EXPECT_EQ(text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  auto cursor = GrantCursorParam("/grants?limit=2&cursor=" + text).value();
  ASSERT_TRUE(cursor);
  EXPECT_EQ(cursor->created_at, last.created_at);
  EXPECT_EQ(cursor->id, last.id);
  EXPECT_FALSE(GrantCursorParam("/grants").value());
  for (const char* bad : {"/grants?cursor=%%%", "/grants?cursor=bm9kb3Q", "/grants?cursor=eC55"})
    EXPECT_FALSE(GrantCursorParam(bad)) << bad;  // not base64url; no dot; not a number before it
}

TEST(NextLink, IsAnRfc8288LinkToTheNextPage) {
  EXPECT_EQ(NextLink("/grants", 50, "abc"), "</grants?limit=50&cursor=abc>; rel=\"next\"");
}

}  // namespace
}  // namespace ap::api
