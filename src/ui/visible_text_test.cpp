#include "ui/visible_text.hpp"

#include <gtest/gtest.h>

namespace ap::ui {
namespace {

TEST(VisibleTextTest, PlainTextAndRealScriptsPassUnchanged) {
  for (std::string_view text : {"Notes", "Zürich Notizen", "日本語のメモ", "مذكرات", "שלום", "Ünïcödé & <b>"}) {
    EXPECT_EQ(VisibleText(text), text);
    EXPECT_FALSE(HasHiddenCharacters(text));
  }
}

TEST(VisibleTextTest, BidiControlsBecomeVisibleEscapes) {
  // "OpenAI Official Helper" written backwards behind a right-to-left override.
  EXPECT_EQ(VisibleText("\u202Erepleh laiciffO IAnepO"), "\u27E8U+202E\u27E9repleh laiciffO IAnepO");
  for (char32_t c : {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C}) {
    std::string utf8;
    if (c < 0x800) {
      utf8 += static_cast<char>(0xC0 | (c >> 6));
      utf8 += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      utf8 += static_cast<char>(0xE0 | (c >> 12));
      utf8 += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      utf8 += static_cast<char>(0x80 | (c & 0x3F));
    }
    char expected[32];
    std::snprintf(expected, sizeof expected, "a\u27E8U+%04X\u27E9b", static_cast<unsigned>(c));
    EXPECT_EQ(VisibleText("a" + utf8 + "b"), expected);
    EXPECT_TRUE(HasHiddenCharacters("a" + utf8 + "b"));
  }
}

TEST(VisibleTextTest, InvisibleAndFormatCharactersBecomeVisibleEscapes) {
  EXPECT_EQ(VisibleText("Open\u200BAI"), "Open\u27E8U+200B\u27E9AI");
  EXPECT_EQ(VisibleText("Open\u200C\u200DAI"), "Open\u27E8U+200C\u27E9\u27E8U+200D\u27E9AI");
  EXPECT_EQ(VisibleText("\uFEFFOpenAI"), "\u27E8U+FEFF\u27E9OpenAI");
  EXPECT_EQ(VisibleText("Open\u00ADAI"), "Open\u27E8U+00AD\u27E9AI");
  EXPECT_EQ(VisibleText("a\u2060\u2061\u2062\u2063\u2064b"),
            "a\u27E8U+2060\u27E9\u27E8U+2061\u27E9\u27E8U+2062\u27E9\u27E8U+2063\u27E9\u27E8U+2064\u27E9b");
  EXPECT_EQ(VisibleText("OpenAI\U000E0041\U000E007F"), "OpenAI\u27E8U+E0041\u27E9\u27E8U+E007F\u27E9");
  EXPECT_EQ(VisibleText("a\u3164b"), "a\u27E8U+3164\u27E9b") << "Hangul filler";
}

TEST(VisibleTextTest, ControlCharactersAndBadBytesBecomeVisibleEscapes) {
  EXPECT_EQ(VisibleText(std::string_view("a\0b", 3)), "a\u27E8U+0000\u27E9b");
  EXPECT_EQ(VisibleText("a\nb\tc\x7f"), "a\u27E8U+000A\u27E9b\u27E8U+0009\u27E9c\u27E8U+007F\u27E9");
  EXPECT_EQ(VisibleText("a\u0085b"), "a\u27E8U+0085\u27E9b") << "C1 next line";
  EXPECT_EQ(VisibleText("a\u2028b"), "a\u27E8U+2028\u27E9b");
  EXPECT_EQ(VisibleText("a\xff" "b"), "a\u27E80xFF\u27E9b");
  EXPECT_EQ(VisibleText("\xc0\xaf"), "\u27E80xC0\u27E9\u27E80xAF\u27E9") << "overlong '/'";
  EXPECT_EQ(VisibleText("\xed\xa0\x80"), "\u27E80xED\u27E9\u27E80xA0\u27E9\u27E80x80\u27E9") << "a surrogate";
  EXPECT_EQ(VisibleText("\xe2\x80"), "\u27E80xE2\u27E9\u27E80x80\u27E9") << "cut short";
}

TEST(VisibleTextTest, VariationSelectorsOnlyWhereTheyChangeAGlyph) {
  EXPECT_EQ(VisibleText("\u2764\uFE0F"), "\u2764\uFE0F") << "an emoji's presentation selector stays";
  EXPECT_EQ(VisibleText("Open\uFE0FAI"), "Open\u27E8U+FE0F\u27E9AI") << "after ASCII it hides nothing but itself";
  EXPECT_EQ(VisibleText("\u2764\uFE0F\uFE0F"), "\u2764\uFE0F\u27E8U+FE0F\u27E9") << "a second one is abuse";
  EXPECT_EQ(VisibleText("a\U000E0100"), "a\u27E8U+E0100\u27E9");
}

// A letter with a few marks is a word of some language; a tower of them ("Zalgo" text) draws over
// the lines around it, such as the consent screen's domain and warnings.
TEST(VisibleTextTest, OnlyThreeStackingMarksInARowAreShownAsMarks) {
  for (std::string_view written : {"Ti\u1EBFng Vi\u1EC7t, ca\u0301, a\u0323\u0302",
                                   "\u05D1\u05BC\u05B0\u0591 \u0628\u0651\u064E \u0E01\u0E34\u0E48"})
    EXPECT_EQ(VisibleText(written), written);
  EXPECT_EQ(VisibleText("a\u0301\u0302\u0303\u0304\u0489b"),
            "a\u0301\u0302\u0303\u27E8U+0304\u27E9\u27E8U+0489\u27E9b");
  std::string tower = "N";
  for (int i = 0; i < 100; ++i) tower += "\u0336\u0489";
  EXPECT_TRUE(HasHiddenCharacters(tower));
  EXPECT_EQ(VisibleText("\u0301\u0301\u0301x\u0301"), "\u0301\u0301\u0301x\u0301") << "a run ends at a letter";
  // Every script's marks count: Lao's tone marks, Arabic's extended ones, Devanagari's stress signs
  // (which, left out, would end a run of listed ones every three).
  EXPECT_EQ(VisibleText("\u0E81\u0EC9\u0EC9\u0EC9\u0EC9"), "\u0E81\u0EC9\u0EC9\u0EC9\u27E8U+0EC9\u27E9");
  EXPECT_EQ(VisibleText("\u0628\u08D3\u08D4\u08D5\u08D6"), "\u0628\u08D3\u08D4\u08D5\u27E8U+08D6\u27E9");
  std::string mixed = "a";
  for (int i = 0; i < 10; ++i) mixed += "\u0316\u0317\u0318\u0952";
  EXPECT_EQ(VisibleText(mixed).substr(0, 7), "a\u0316\u0317\u0318");
  EXPECT_NE(VisibleText(mixed).find("\u27E8U+0952\u27E9"), std::string::npos);
  EXPECT_EQ(VisibleText("\u0E81\u0EC9\u0EB4 \u0915\u094D\u0937"), "\u0E81\u0EC9\u0EB4 \u0915\u094D\u0937")
      << "a word's own marks stay";
}

TEST(ShowHostTest, AsciiHostsAndTheirRegistrableDomain) {
  ShownHost h = ShowHost("Login.Example.CO.UK");
  EXPECT_TRUE(h.valid);
  EXPECT_EQ(h.ascii, "login.example.co.uk");
  EXPECT_EQ(h.registrable, "example.co.uk");
  EXPECT_EQ(HostWords(h), "login.example.co.uk");
  EXPECT_EQ(ShowHost("openai.com.evil.example").registrable, "evil.example");
  EXPECT_EQ(ShowHost("api.openai.com").registrable, "openai.com");
  EXPECT_EQ(ShowHost("someone.github.io").registrable, "someone.github.io") << "a private suffix counts";
  EXPECT_EQ(ShowHost("127.0.0.1").registrable, "127.0.0.1");
  EXPECT_EQ(ShowHost("[::1]").registrable, "::1");
}

TEST(ShowHostTest, UnicodeHostsAppearBesidePunycode) {
  ShownHost cyrillic = ShowHost("\u0430pple.com");  // Cyrillic a
  EXPECT_TRUE(cyrillic.valid);
  EXPECT_EQ(cyrillic.ascii, "xn--pple-43d.com");
  EXPECT_EQ(HostWords(cyrillic), "\u0430pple.com (xn--pple-43d.com)");
  EXPECT_EQ(cyrillic.registrable, "xn--pple-43d.com");
  ShownHost from_punycode = ShowHost("xn--bcher-kva.example");
  EXPECT_EQ(HostWords(from_punycode), "b\u00FCcher.example (xn--bcher-kva.example)");
  EXPECT_FALSE(ShowHost("open\u202Eai.com").valid) << "IDNA refuses bidi controls";
  EXPECT_EQ(HostWords(ShowHost("open\u202Eai.com")), "open\u27E8U+202E\u27E9ai.com (not a valid host name)");
}

TEST(ShowHostTest, HostOfUrlDecodesWhatBrowsersWouldShow) {
  ShownHost h = HostOfUrl("https://%D0%B0pple.com:8443/login");
  EXPECT_EQ(HostWords(h), "\u0430pple.com (xn--pple-43d.com)");
  EXPECT_EQ(h.port, "8443");
  EXPECT_EQ(HostOfUrl("https://xn--pple-43d.com/").unicode, "\u0430pple.com");
  EXPECT_FALSE(HostOfUrl("not a url").valid);
  EXPECT_FALSE(HostOfUrl("javascript:alert(1)").valid);
}

}  // namespace
}  // namespace ap::ui
