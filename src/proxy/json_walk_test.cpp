// The walk that stands in for boost::json's parser where policy reads a JSON text: it must accept
// exactly the texts json::parse accepts, tell the values json::parse builds (numbers to the bit),
// and tell each string and key whole and unescaped.
#include "proxy/json_walk.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstring>
#include <random>

namespace ap::proxy {
namespace {
namespace json = boost::json;

// Builds the value the walk tells, as json::parse would, and notes how strings came.
class Builder {
 public:
  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) { return Open(json::object()); }
  bool on_array_begin(boost::system::error_code&) { return Open(json::array()); }
  bool on_object_end(size_t n, boost::system::error_code&) { return Close(n); }
  bool on_array_end(size_t n, boost::system::error_code&) { return Close(n); }
  bool on_key(json::string_view s, size_t n, boost::system::error_code&) {
    whole_ = whole_ && n == s.size();
    keys_.emplace_back(s);
    return true;
  }
  bool on_string(json::string_view s, size_t n, boost::system::error_code&) {
    whole_ = whole_ && n == s.size();
    return Put(json::string(s));
  }
  bool on_int64(int64_t i, json::string_view, boost::system::error_code&) { return Put(i); }
  bool on_uint64(uint64_t u, json::string_view, boost::system::error_code&) { return Put(u); }
  bool on_double(double d, json::string_view, boost::system::error_code&) { return Put(d); }
  bool on_bool(bool b, boost::system::error_code&) { return Put(b); }
  bool on_null(boost::system::error_code&) { return Put(nullptr); }

  const json::value& Value() const { return root_; }
  bool ToldStringsWhole() const { return whole_; }
  bool CountsRight() const { return counts_right_; }

 private:
  bool Open(json::value v) {
    stack_.push_back(std::move(v));
    return true;
  }
  bool Close(size_t n) {
    json::value v = std::move(stack_.back());
    stack_.pop_back();
    counts_right_ = counts_right_ && (v.is_object() ? v.get_object().size() <= n : v.get_array().size() == n);
    return Put(std::move(v));
  }
  bool Put(json::value v) {
    if (stack_.empty()) {
      root_ = std::move(v);
    } else if (stack_.back().is_array()) {
      stack_.back().get_array().push_back(std::move(v));
    } else {
      stack_.back().get_object()[keys_.back()] = std::move(v);  // the last of a name wins, as json::parse's
      keys_.pop_back();
    }
    return true;
  }

  std::vector<json::value> stack_;
  std::vector<std::string> keys_;
  json::value root_;
  bool whole_ = true;
  bool counts_right_ = true;
};

// Drops what is inside a container within a container, as a handler reading only part of a text
// does (Ignoring()); notes whether a key or string told while it ignored was told empty.
class Ignorer {
 public:
  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) { return ++depth_ > 0; }
  bool on_array_begin(boost::system::error_code&) { return ++depth_ > 0; }
  bool on_object_end(size_t, boost::system::error_code&) { return depth_-- > 0; }
  bool on_array_end(size_t, boost::system::error_code&) { return depth_-- > 0; }
  bool on_key(json::string_view s, size_t, boost::system::error_code&) { return Told(s); }
  bool on_string(json::string_view s, size_t, boost::system::error_code&) { return Told(s); }
  bool on_int64(int64_t, json::string_view, boost::system::error_code&) { return true; }
  bool on_uint64(uint64_t, json::string_view, boost::system::error_code&) { return true; }
  bool on_double(double, json::string_view, boost::system::error_code&) { return true; }
  bool on_bool(bool, boost::system::error_code&) { return true; }
  bool on_null(boost::system::error_code&) { return true; }
  bool Ignoring() const { return depth_ >= 2; }
  bool ToldIgnoredEmpty() const { return ignored_empty_; }

 private:
  bool Told(json::string_view s) {
    ignored_empty_ = ignored_empty_ && (!Ignoring() || s.empty());
    return true;
  }
  int depth_ = 0;
  bool ignored_empty_ = true;
};

// Whether a and b are the same value, numbers to the bit (NaN equal to NaN: "0e500" is 0 * inf).
bool Same(const json::value& a, const json::value& b) {
  if (a.kind() != b.kind()) return false;
  if (a.is_double()) {
    double x = a.get_double(), y = b.get_double();
    return std::memcmp(&x, &y, sizeof x) == 0 || (std::isnan(x) && std::isnan(y));
  }
  if (a.is_object()) {
    if (a.get_object().size() != b.get_object().size()) return false;
    for (const auto& [k, v] : a.get_object())
      if (!b.get_object().contains(k) || !Same(v, b.get_object().at(k))) return false;
    return true;
  }
  if (a.is_array()) {
    if (a.get_array().size() != b.get_array().size()) return false;
    for (size_t i = 0; i < a.get_array().size(); ++i)
      if (!Same(a.get_array()[i], b.get_array()[i])) return false;
    return true;
  }
  return a == b;
}

// Walks `text` and checks it against json::parse; returns whether the walk accepted it.
bool WalksAsParsed(std::string_view text) {
  boost::system::error_code ec;
  json::value parsed = json::parse(text, ec);
  Builder built;
  bool walked = WalkJson(text, built);
  EXPECT_EQ(walked, !ec) << "accepts what json::parse accepts: " << text;
  Ignorer ignorer;
  EXPECT_EQ(WalkJson(text, ignorer), !ec) << "accepts what json::parse accepts, ignoring its inner parts: " << text;
  EXPECT_TRUE(ignorer.ToldIgnoredEmpty()) << text;
  if (walked && !ec) {
    EXPECT_TRUE(Same(built.Value(), parsed)) << "tells what json::parse builds: " << text;
    EXPECT_TRUE(built.ToldStringsWhole()) << text;
    EXPECT_TRUE(built.CountsRight()) << text;
  }
  return walked;
}

TEST(JsonWalk, AcceptsAndReadsNumbersAsJsonParseDoes) {
  for (std::string_view n : {"0",
                             "-0",
                             "7",
                             "-7",
                             "123456789012345678",
                             "-123456789012345678",
                             "1234567890123456789",
                             "9223372036854775807",
                             "9223372036854775808",
                             "-9223372036854775808",
                             "-9223372036854775809",
                             "18446744073709551615",
                             "18446744073709551616",
                             "0.5",
                             "-0.0",
                             "1e5",
                             "1E+5",
                             "1e-5",
                             "0e500",
                             "1e400",
                             "-1e400",
                             "1.7976931348623157e308",
                             "4.9e-324",
                             "123.456e-7",
                             "0.1000000000000000055511151231257827",
                             "00",
                             "01",
                             "-01",
                             "1.",
                             ".5",
                             "-",
                             "+1",
                             "1e",
                             "1e+",
                             "--1",
                             "1-",
                             "1.5.5",
                             "0x10",
                             "1e5e5",
                             "Infinity",
                             "NaN",
                             "1 2",
                             "[1,-]",
                             "[-0,0,-0.0]",
                             "{\"a\":-1e-1}",
                             "1e99999999999"})
    WalksAsParsed(n);
  // json::parse reads a long mantissa one way with 33 or more bytes left in the text and another
  // way near its end; the two round differently.
  for (std::string_view n : {"[51.3456789012345678,12345667890123456789]", "51.3456789012345678",
                             "[51.3456789012345678                                      ]",
                             "{\"a\":328.999999999999976,\"b\":1,\"c\":2,\"d\":\"padding\"}"})
    WalksAsParsed(n);
}

TEST(JsonWalk, AcceptsAndReadsStringsAsJsonParseDoes) {
  for (std::string_view s : std::initializer_list<std::string_view>{
           R"("")", R"("plain")", R"("a\"b\\c\/d\be\ff\ng\rh\ti")", R"("\u0041\u00e9\u20AC")",
           R"("\ud83d\ude00")",  // a surrogate pair
           R"("\ud83d")", R"("\ude00")", R"("\ud83d\u0041")", R"("\ud83dx")", R"("\ud83d\")", R"("\u12")",
           R"("\u12G4")", R"("\x")", R"("\)", "\"tab\there\"", std::string_view("\"nul\0\"", 6), "\"é€😀\"", "\"\xc3\"",
           "\"\xc0\xaf\"",          // overlong
           "\"\xe0\x80\xaf\"",      // overlong
           "\"\xed\xa0\x80\"",      // a surrogate in UTF-8
           "\"\xf4\x90\x80\x80\"",  // past 0x10FFFF
           "\"\xf0\x9f\x98\"",      // cut short
           "\"\xff\"", "\"\x80\"", "\"unterminated", "\"long string past sixteen bytes with an \\u00e9scape in it\"",
           "\"sixteen-and-more bytes then \xe2\x82\xac and on\"",
           // Multi-byte text, then an escape, a malformed byte,
           // a control character or a cut character in it.
           "\"\u30a8\u30f3\u30b8\u30f3\u3068\u30b3\u30f3\u30d1\u30a4\u30e9\"",
           "\"\u30a8\u30f3\u30b8\u30f3\u3068\\n\u30b3\u30f3\u30d1\\u00e9\u30a4\"",
           "\"\u30a8\u30f3\u30b8\u30f3\u3068\u30b3\xed\xa0\x80\u30d1\"",
           "\"\u30a8\u30f3\u30b8\u30f3\u3068\\n\u30b3\xc0\xaf\u30d1\"",
           "\"\u30a8\u30f3\u30b8\u30f3\u3068\u30b3\t\u30d1\"", "\"\u30a8\u30f3\u30b8\u30f3\u3068\u30b3\xe3\x82"}) {
    WalksAsParsed(s);
    // The same inside a container within a container, where a handler may ignore it.
    WalksAsParsed("[{\"k\":" + std::string(s) + "}]");
    WalksAsParsed("[{" + std::string(s) + ":1}]");
  }
}

// The walk's own reading of a multi-byte character against the decoder every other reader uses:
// every lead byte with every second byte, the third and fourth at the edges of their range and
// past them, and each cut short by the end of the text.
TEST(JsonWalk, ReadsMultiByteCharactersAsTheDecoderDoes) {
  auto agrees = [](const std::string& bytes) {
    for (size_t cut = 1; cut <= bytes.size(); ++cut) {
      std::string_view s(bytes.data(), cut);
      Utf8Char decoded = DecodeUtf8At(s, 0);
      int expected = decoded.code ? static_cast<int>(decoded.length) : 0;
      if (json_walk::Utf8Length(s.data(), s.data() + s.size()) != expected) return false;
    }
    return true;
  };
  constexpr int kEdges[] = {0x00, 0x7F, 0x80, 0x9F, 0xBF, 0xC0, 0xFF};
  int disagreements = 0;
  for (int b0 = 0x80; b0 <= 0xFF; ++b0)
    for (int b1 = 0; b1 <= 0xFF; ++b1)
      for (int b2 : kEdges)
        for (int b3 : kEdges)
          if (!agrees({static_cast<char>(b0), static_cast<char>(b1), static_cast<char>(b2), static_cast<char>(b3)}))
            ++disagreements;
  EXPECT_EQ(disagreements, 0);
}

TEST(JsonWalk, AcceptsAndReadsStructureAsJsonParseDoes) {
  std::string deepest = std::string(32, '[') + std::string(32, ']');
  std::string too_deep = std::string(33, '[') + std::string(33, ']');
  std::string deep_objects;
  for (int i = 0; i < 33; ++i) deep_objects += "{\"a\":";
  deep_objects += "1" + std::string(33, '}');
  for (std::string_view t : {std::string_view("{}"),
                             std::string_view("[]"),
                             std::string_view(" \t\r\n{ \"a\" : [ 1 , true , false , null ] } \n"),
                             std::string_view(R"({"a":1,"a":2})"),
                             std::string_view(R"({"a":1,})"),
                             std::string_view("[1,]"),
                             std::string_view("[1 2]"),
                             std::string_view(R"({"a" 1})"),
                             std::string_view(R"({a:1})"),
                             std::string_view(R"({"a":1}{)"),
                             std::string_view("{\"a\":1}\x0b"),
                             std::string_view(""),
                             std::string_view("   "),
                             std::string_view("tru"),
                             std::string_view("truex"),
                             std::string_view("nul"),
                             std::string_view("[true,fals]"),
                             std::string_view("// no\n1"),
                             std::string_view("\xef\xbb\xbf{}"),
                             std::string_view(R"({"k\u0065y":"v","":""})"),
                             std::string_view(deepest),
                             std::string_view(too_deep),
                             std::string_view(deep_objects),
                             std::string_view("[1,[2,[3,{\"x\":[]}]],{}]")})
    WalksAsParsed(t);
}

// Made-up texts: provider-like answers, cut and with bytes changed or moved, each checked against
// json::parse. A fixed seed, so that a failure comes back.
TEST(JsonWalk, AgreesWithJsonParseOnTwentyThousandMadeUpTexts) {
  const std::string seeds[] = {
      R"({"id":"chatcmpl-1","choices":[{"index":0,"message":{"role":"assistant","content":"Hi \"there\" \u00e9\n"},"logprobs":null}],"usage":{"prompt_tokens":30,"completion_tokens":2.5e1,"total_tokens":-56}})",
      R"({"candidates":[{"content":{"parts":[{"text":"ok \ud83d\ude00"}]},"index":0}],"usageMetadata":{"promptTokenCount":1e2,"x":[true,false,null,0.1]}})",
      R"([{"a":[[[]]]},"\\\/\b\f\r\t",18446744073709551616,-9223372036854775809,123456789012345678])",
  };
  const std::string alphabet = "{}[]\":,\\u0123456789eE+-.tfnrl \x7f\xc3\xa9\xed\xa0\xf0\x9f";
  std::mt19937 random(1234);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = seeds[i % 3];
    int changes = 1 + static_cast<int>(random() % 3);
    for (int c = 0; c < changes; ++c) {
      size_t at = random() % text.size();
      switch (random() % 4) {
        case 0:
          text[at] = alphabet[random() % alphabet.size()];
          break;
        case 1:
          text.erase(at, 1 + random() % 3);
          break;
        case 2:
          text.insert(at, 1, alphabet[random() % alphabet.size()]);
          break;
        default:
          text.resize(at);
      }
      if (text.empty()) text = "x";
    }
    accepted += WalksAsParsed(text) ? 1 : 0;
    if (HasFailure()) break;
  }
  EXPECT_GT(accepted, 500);  // the made-up texts are not all broken: acceptance is tested too
}

}  // namespace
}  // namespace ap::proxy
