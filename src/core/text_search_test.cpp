#include "core/text_search.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace ap {
namespace {

// What std::string_view::find says, wherever the piece is, from wherever the search starts.
TEST(FindTextTest, FindsWhatStringViewFindFinds) {
  std::string text = R"({"id":"x","choices":[{"delta":{"content":"s"}}],"usage":null,"sage":1})";
  for (std::string_view part : {"\"delta\"", "sage", "\"", "}", "absent", "", "usage\":null,", "{\"id\""}) {
    for (size_t from = 0; from <= text.size() + 1; ++from)
      ASSERT_EQ(FindText(text, part, from), std::string_view(text).find(part, from)) << part << " from " << from;
  }
  // Pieces as long as a step of sixteen and longer: their last byte is looked for in the next step.
  std::string long_text = "0123456789abcdefghijklmnopqrstuvwxyz" + text + "0123456789abcdefghijklmnopqrstuvwxyz";
  for (std::string_view part : {"0123456789abcdef", "0123456789abcdefg", "9abcdefghijklmnopqrstuvwxyz{\"id\":\"x\"",
                                "0123456789abcdefghijklmnopqrstuvw0"}) {
    for (size_t from = 0; from <= long_text.size(); ++from)
      ASSERT_EQ(FindText(long_text, part, from), std::string_view(long_text).find(part, from))
          << part << " from " << from;
  }
  EXPECT_EQ(FindText(text, "x", std::string_view::npos), std::string_view::npos);
  EXPECT_EQ(FindText("", "a"), std::string_view::npos);
  EXPECT_EQ(FindText("ab", "abc"), std::string_view::npos);
  EXPECT_EQ(FindText("abc", "bc"), 1u);
}

// Texts of few letters have pieces that begin and end as the one looked for but differ between:
// every length across the sixteen-byte steps, every start.
TEST(FindTextTest, FindsWhatStringViewFindsInTextsOfFewLetters) {
  std::mt19937 random(7);
  auto letters = [&](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += "ab\""[random() % 3];
    return s;
  };
  for (int round = 0; round < 2000; ++round) {
    std::string text = letters(random() % 80), part = letters(1 + random() % 6);
    for (size_t from = 0; from <= text.size(); ++from)
      ASSERT_EQ(FindText(text, part, from), std::string_view(text).find(part, from))
          << "'" << part << "' in '" << text << "' from " << from;
  }
}

}  // namespace
}  // namespace ap
