#include "core/utf8.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace ap {
namespace {

bool IsScalar(char32_t c) { return c <= 0x10FFFF && (c < 0xD800 || c > 0xDFFF); }

TEST(Utf8, EveryScalarValueGoesThereAndBack) {
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if (!IsScalar(c)) continue;
    std::string text;
    AppendUtf8(text, c);
    ASSERT_EQ(text.size(), c < 0x80      ? 1u
                           : c < 0x800   ? 2u
                           : c < 0x10000 ? 3u
                                         : 4u)
        << std::hex << static_cast<uint32_t>(c);
    Utf8Char read = DecodeUtf8At("x" + text, 1);
    ASSERT_EQ(read.code, c) << std::hex << static_cast<uint32_t>(c);
    ASSERT_EQ(read.length, text.size()) << std::hex << static_cast<uint32_t>(c);
  }
}

TEST(Utf8, RefusesWhatIsNotWellFormed) {
  for (std::string_view bad : {
           "\x80",              // a continuation byte first
           "\xC0\x80",          // an overlong NUL
           "\xC1\xBF",          // an overlong 0x7F
           "\xE0\x9F\xBF",      // an overlong 0x7FF
           "\xF0\x8F\xBF\xBF",  // an overlong 0xFFFF
           "\xED\xA0\x80",      // a leading surrogate
           "\xED\xBF\xBF",      // a trailing surrogate
           "\xF4\x90\x80\x80",  // past U+10FFFF
           "\xF8\x88\x80\x80",  // a five-byte form
           "\xFF",
           "\xC3",          // cut short
           "\xE2\x82",      // cut short
           "\xE2\x28\xA1",  // a byte that does not continue it
       }) {
    Utf8Char read = DecodeUtf8At(bad, 0);
    EXPECT_FALSE(read.code) << testing::PrintToString(bad);
    EXPECT_EQ(read.length, 1u) << testing::PrintToString(bad);  // the reader goes on at the next byte
  }
  // A well-formed character is read where it starts, not past the text's end.
  EXPECT_EQ(DecodeUtf8At("a\xE2\x82\xAC", 1).code, U'\u20AC');
  EXPECT_FALSE(DecodeUtf8At("a\xE2\x82\xAC", 2).code);
}

TEST(Utf8, ReadsHexDigitsInEitherCase) {
  std::string digits = "0123456789abcdefABCDEF";
  for (size_t i = 0; i < digits.size(); ++i) EXPECT_EQ(HexDigit(digits[i]), i < 16 ? int(i) : int(i) - 6);
  for (char c : std::string_view("gG/:@`\0 -x", 10)) EXPECT_EQ(HexDigit(c), -1) << int(c);
}

// What outside text could do to a log line or a message it is put in: end the line and forge the
// next, or reverse what follows it. Printable text goes as it is, cut to its budget between
// characters.
TEST(Utf8, PrintableTextCannotStartALineOrReorderWhatFollows) {
  EXPECT_EQ(PrintableText("notes app", 100), "notes app");
  EXPECT_EQ(PrintableText("x\n2025-01-01 [warning] revoking grant g1", 100),
            "x\\u{000A}2025-01-01 [warning] revoking grant g1");
  EXPECT_EQ(PrintableText("a\r\tb\x7f", 100), "a\\u{000D}\\u{0009}b\\u{007F}");
  EXPECT_EQ(PrintableText("a\u2028b\u202Ec\u2066d\u0085e", 100), "a\\u{2028}b\\u{202E}c\\u{2066}d\\u{0085}e");
  EXPECT_EQ(PrintableText("caf\xff\xc3", 100), "caf\\x{FF}\\x{C3}");
  EXPECT_EQ(PrintableText("caf\u00e9 au lait", 100), "caf\u00e9 au lait");
  EXPECT_EQ(PrintableText("caf\u00e9", 4), "caf...") << "not cut inside the \u00e9";
  EXPECT_EQ(PrintableText("abcdef", 3), "abc...");
}

}  // namespace
}  // namespace ap
