// A field as Beast's parser reads it, with the patched scans (src/beast_patch): a value ends at
// CR LF, may hold tabs and bytes of 0x80 and above, and any other control character or DEL in it
// is refused; a name is made of token characters up to its ':', and any other byte refuses it;
// wherever the byte falls against the scans' sixteen-byte steps, and whether the head arrives
// whole or in two parts.
#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstring>
#include <memory>
#include <string>

#include "http/message.hpp"

namespace ap::http {
namespace {

// The value of the request's field `name` as parsed from a head with the line `line`, or
// "error: ..." when the parser refused the request. `split` (when set) gives the parser the bytes
// in two parts, as two reads would.
std::string Parsed(const std::string& line, std::string_view name, size_t split = std::string::npos) {
  std::string text = "GET / HTTP/1.1\r\n" + line + "\r\nHost: a\r\n\r\n";
  split = std::min(split, text.size());
  bhttp::request_parser<bhttp::string_body> parser;
  boost::system::error_code ec;
  // Each part goes to the parser in a buffer of exactly its size, so that a read past its end is
  // one AddressSanitizer sees.
  size_t used = 0;
  for (size_t end : {split, text.size()}) {
    if (end == used || parser.is_header_done()) continue;
    auto exact = std::make_unique<char[]>(end - used);
    std::memcpy(exact.get(), text.data() + used, end - used);
    used += parser.put(boost::asio::buffer(exact.get(), end - used), ec);
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
    // The first part ends at every byte of the value's first 40: the scan meets the end of what it
    // was given before, at and after sixteen bytes.
    for (size_t split = 25; split < 66; ++split)
      EXPECT_EQ(ParsedValue(value, split), expected) << "length " << length << ", first part " << split;
  }
}

TEST(ParserValues, AControlCharacterOrDelIsRefusedWhereverItFalls) {
  for (char bad : {'\x01', '\x00', '\n', '\x1f', '\x7f', '\x0b'}) {
    for (size_t at = 0; at < 48; ++at) {
      std::string value(48, 'v');
      value[at] = bad;
      std::string parsed = ParsedValue(value);
      EXPECT_TRUE(parsed.starts_with("error:")) << "byte " << int(bad) << " at " << at << ": " << parsed;
      for (size_t split : {25, 33, 41, 57})
        EXPECT_TRUE(ParsedValue(value, split).starts_with("error:")) << "byte " << int(bad) << " at " << at;
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
    for (size_t split = 16; split < 50; ++split)
      EXPECT_EQ(Parsed(name + ": v", name, split), "v") << name << ", first part " << split;
  }
}

TEST(ParserValues, ANameWithAnyOtherByteIsRefusedWhereverItFalls) {
  for (char bad : {' ', '"', '(', '/', '@', '[', '{', '\x80', '\xff', '\x00', '\t', ';', '\x7f', '\r'}) {
    for (size_t at = 0; at < 40; ++at) {
      std::string name(40, 'n');
      name[at] = bad;
      std::string parsed = Parsed(name + ": v", name);
      EXPECT_TRUE(parsed.starts_with("error:")) << "byte " << int(bad) << " at " << at << ": " << parsed;
      for (size_t split : {16, 24, 32, 48})
        EXPECT_TRUE(Parsed(name + ": v", name, split).starts_with("error:")) << "byte " << int(bad) << " at " << at;
    }
  }
  EXPECT_TRUE(Parsed(": v", "").starts_with("error:")) << "an empty name";
}

}  // namespace
}  // namespace ap::http
