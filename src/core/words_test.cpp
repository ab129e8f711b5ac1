#include "core/words.hpp"

#include <gtest/gtest.h>

namespace ap {
namespace {

TEST(WordsTest, SplitsOnSpacesLeavingOutEmptyItems) {
  EXPECT_EQ(SplitOnSpaces("a b  c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(SplitOnSpaces(" "), std::vector<std::string>{});
  EXPECT_EQ(SplitOnSpaces(""), std::vector<std::string>{});
  EXPECT_EQ(JoinWithSpaces({"a", "b"}), "a b");
  std::vector<std::string> urls{"https://broker.example/openai/v1", "https://broker.example/proxy"};
  EXPECT_EQ(SplitOnSpaces(JoinWithSpaces(urls)), urls);
  EXPECT_EQ(JoinWithSpaces({}), "");
}

}  // namespace
}  // namespace ap
