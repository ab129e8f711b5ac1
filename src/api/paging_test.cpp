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

TEST(ShapePage, FirstPageKeepsTheNewestAndSaysWhetherOlderRowsFollow) {
  auto full = ShapePage<int>({9, 8, 7, 6}, 3, false, false);
  EXPECT_EQ(full.rows, (std::vector<int>{9, 8, 7}));
  EXPECT_TRUE(full.older);
  EXPECT_FALSE(full.newer);
  auto exact = ShapePage<int>({9, 8, 7}, 3, false, false);
  EXPECT_EQ(exact.rows, (std::vector<int>{9, 8, 7}));
  EXPECT_FALSE(exact.older) << "no dead Older link when the rows end with the page";
}

TEST(ShapePage, PastAnOlderCursorThereAreNewerRows) {
  auto page = ShapePage<int>({6, 5}, 3, false, true);
  EXPECT_EQ(page.rows, (std::vector<int>{6, 5}));
  EXPECT_FALSE(page.older);
  EXPECT_TRUE(page.newer);
}

TEST(ShapePage, PastANewerCursorTheExtraRowIsTheNewest) {
  auto middle = ShapePage<int>({9, 8, 7, 6}, 3, true, true);
  EXPECT_EQ(middle.rows, (std::vector<int>{8, 7, 6})) << "the rows just newer than the cursor";
  EXPECT_TRUE(middle.newer);
  EXPECT_TRUE(middle.older);
  auto first = ShapePage<int>({9, 8, 7}, 3, true, true);
  EXPECT_EQ(first.rows, (std::vector<int>{9, 8, 7}));
  EXPECT_FALSE(first.newer) << "back at the newest rows";
}

TEST(GrantCursor, ReadsANamedParameter) {
  store::GrantRecord last;
  last.created_at = 1764500000;
  last.id = "g1";
  auto cursor = GrantCursorParam("/?newer=" + GrantCursorText(last), "newer").value();
  ASSERT_TRUE(cursor);
  EXPECT_EQ(cursor->id, "g1");
  EXPECT_FALSE(GrantCursorParam("/?newer=" + GrantCursorText(last)).value()) << "cursor is another parameter";
  auto bad = GrantCursorParam("/?newer=zzz", "newer");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field_errors.at(0).field, "newer");
}

}  // namespace
}  // namespace ap::api
