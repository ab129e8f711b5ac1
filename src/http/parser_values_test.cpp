// A field as Beast's parser reads it, with the patched scans (src/beast_patch): a value ends at
// CR LF, may hold tabs and bytes of 0x80 and above, and any other control character or DEL in it
// is refused; a name is made of token characters up to its ':', and any other byte refuses it;
// wherever the byte falls against the scans' sixteen-byte steps, and whether the head arrives
// whole or in two parts.
#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>

#include "http/message.hpp"

namespace ap::http {
namespace {

// The value of the request's field `name` as parsed from a head with the line `line`, or
// "error: ..." when the parser refused the request. `split` (when set) gives the parser the bytes
// in two parts, as two reads would.
std::string Parsed(const std::string& line, std::string_view name, size_t split = std::string::npos) {
  std::string text = "GET / HTTP/1.1\r\n" + line + "\r\nHost: a\r\n\r\n";
  bhttp::request_parser<bhttp::string_body> parser;
  boost::system::error_code ec;
  std::string held;
  for (std::string_view part : {std::string_view(text).substr(0, std::min(split, text.size())),
                                std::string_view(text).substr(std::min(split, text.size()))}) {
    held += part;
    if (held.empty() || parser.is_header_done()) break;
    size_t used = parser.put(boost::asio::buffer(held), ec);
    held.erase(0, used);
    if (ec == bhttp::error::need_more) ec = {};
    if (ec) return "error: " + ec.message();
  }
  if (!parser.is_header_done()) return "error: not done";
  auto field = parser.get().find(name);
  return field == parser.get().end() ? "error: no such field" : std::string(field->value());
}

std::string ParsedValue(const std::string& value, size_t split = std::string::npos) {
  return Parsed("x-value: " + value, "x-value", split);
}

TEST(ParserValues, PrintableTabsAndHighBytesAreReadWholeAtEveryLength) {
  for (size_t length = 0; length < 70; ++length) {
    std::string value;
    for (size_t i = 0; i < length; ++i) value += "ab\t\x80z~ \xff"[i % 8];
    // Leading and trailing blanks are not part of the value.
    std::string expected = value;
    while (!expected.empty() && (expected.back() == ' ' || expected.back() == '\t')) expected.pop_back();
    size_t first = expected.find_first_not_of(" \t");
    expected = first == std::string::npos ? "" : expected.substr(first);
    EXPECT_EQ(ParsedValue(value), expected) << "length " << length;
    EXPECT_EQ(ParsedValue(value, 30), expected) << "length " << length << ", in two parts";
  }
}

TEST(ParserValues, AControlCharacterOrDelIsRefusedWhereverItFalls) {
  for (char bad : {'\x01', '\x00', '\n', '\x1f', '\x7f', '\x0b'}) {
    for (size_t at = 0; at < 48; ++at) {
      std::string value(48, 'v');
      value[at] = bad;
      std::string parsed = ParsedValue(value);
      EXPECT_TRUE(parsed.starts_with("error:")) << "byte " << int(bad) << " at " << at << ": " << parsed;
      EXPECT_TRUE(ParsedValue(value, 40).starts_with("error:")) << "byte " << int(bad) << " at " << at;
    }
  }
}

TEST(ParserValues, ALoneCarriageReturnEndsNoValue) {
  EXPECT_TRUE(ParsedValue(std::string(20, 'v') + "\rx" + std::string(20, 'v')).starts_with("error:"));
  // A value that ends exactly at a step, then its CR LF.
  EXPECT_EQ(ParsedValue(std::string(32, 'v')), std::string(32, 'v'));
}

TEST(ParserValues, NamesOfTokenCharactersAreReadAtEveryLength) {
  for (size_t length = 1; length < 50; ++length) {
    std::string name;
    for (size_t i = 0; i < length; ++i) name += "Ab-9z_x.!~Q0'|"[i % 14];
    EXPECT_EQ(Parsed(name + ": v", name), "v") << name;
    EXPECT_EQ(Parsed(name + ": v", name, 20), "v") << name << ", in two parts";
  }
}

TEST(ParserValues, ANameWithAnyOtherByteIsRefusedWhereverItFalls) {
  for (char bad : {' ', '"', '(', '/', '@', '[', '{', '\x80', '\xff', '\x00', '\t', ';'}) {
    for (size_t at = 0; at < 40; ++at) {
      std::string name(40, 'n');
      name[at] = bad;
      std::string parsed = Parsed(name + ": v", name);
      EXPECT_TRUE(parsed.starts_with("error:")) << "byte " << int(bad) << " at " << at << ": " << parsed;
      EXPECT_TRUE(Parsed(name + ": v", name, 30).starts_with("error:")) << "byte " << int(bad) << " at " << at;
    }
  }
  EXPECT_TRUE(Parsed(": v", "").starts_with("error:")) << "an empty name";
}

}  // namespace
}  // namespace ap::http
