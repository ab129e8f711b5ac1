#include "core/words.hpp"

#include <gtest/gtest.h>

namespace ap {
namespace {

TEST(WordsTest, SplitsOnSpacesLeavingOutEmptyItems) {
  EXPECT_EQ(SplitOnSpaces("a b  c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(SplitOnSpaces(" "), std::vector<std::string>{});
  EXPECT_EQ(SplitOnSpaces(""), std::vector<std::string>{});
  EXPECT_EQ(JoinWithSpaces({"a", "b"}), "a b");
  EXPECT_EQ(SplitOnSpaces(JoinWithSpaces({"x", "y", "z"})), (std::vector<std::string>{"x", "y", "z"}));
}

}  // namespace
}  // namespace ap
