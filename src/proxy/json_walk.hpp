#pragma once
// Walks a whole JSON text, validating it exactly as boost::json::parse validates it (its default
// options: no comments, no trailing commas, valid UTF-8 and UTF-16 escapes, at most 32 levels),
// and tells a handler what it holds, as boost::json::basic_parser tells its handler. It is that
// parser's work without its generality: the text is in memory whole, so each string and key is
// told whole and unescaped in one call (never in parts), and there is no state to suspend and
// resume. A usual provider answer or app body takes a fifth to a quarter less time than with the
// parser (bench/micro_bench.cpp: BM_UsageWhole, BM_BodyScan). Numbers other than plain integers of
// at most 18 digits are read by the parser itself, from where json::parse reads them (it rounds a
// long mantissa differently near the end of its input), so every value is the one json::parse
// gives. json::parse also refuses strings, arrays and objects longer than 0x7ffffffe; no text the
// broker reads is that long (answers and bodies stop at 64 MB), and the walk has no such bound.
// The handler has basic_parser's on_document_begin/end, on_object_begin/end, on_array_begin/end,
// on_key, on_string, on_int64, on_uint64, on_double, on_bool and on_null; false from any of them
// ends the walk, which then fails. A key or string it is told lives only until the next one.
// A handler may also have Ignoring(): while it is true, keys and strings are checked as ever but
// not unescaped, and told empty (what a handler inside a part of the text it drops needs).
// Used where policy reads a JSON text without building it (proxy/json_scan, proxy/usage).
// Thread-safety: none; one walk per call.

#include <algorithm>
#include <boost/json/string_view.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/utf8.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ap::proxy {

namespace json_walk {

// How deep a walk goes: as json::parse's default options, what a request may nest. An answer is
// walked deeper: what the provider wrote, and the app's JSON.parse reads, must be read here too.
inline constexpr int kMaxDepth = 32;
inline constexpr int kAnswerMaxDepth = 512;

// A number as json::parse reads it; `ok` false when it refuses the text.
struct Number {
  enum Kind : uint8_t { kInt64, kUint64, kDouble } kind = kInt64;
  bool ok = false;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
};
// What json::parse reads for the `length` bytes at the start of `from` (a number, or what it takes
// for one), `from` being the rest of the text, to its end.
Number ParseNumber(std::string_view from, size_t length);

// Where the bytes that end a run of plain string characters are: '"', '\\', a control character
// or a byte of a multi-byte character.
inline const char* PlainEnd(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // A signed comparison: bytes from 0x80 on are below 0x20 too.
    __m128i stop =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), _mm_cmplt_epi8(v, space));
    if (int mask = _mm_movemask_epi8(stop)) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (p < end) {
    auto c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
    ++p;
  }
  return p;
}

// The length of the well-formed multi-byte character at p (its first byte from 0x80 on), as
// DecodeUtf8At reads it (RFC 3629: no overlong form, no surrogate, nothing past U+10FFFF), or 0.
// Inline, with the ranges of the Unicode standard's table 3-7, so that text in a language written
// in multi-byte characters costs a few comparisons a character.
inline int Utf8Length(const char* p, const char* end) {
  auto in = [p](int k, unsigned lo, unsigned hi) {
    auto b = static_cast<unsigned char>(p[k]);
    return b >= lo && b <= hi;
  };
  auto b0 = static_cast<unsigned char>(*p);
  ptrdiff_t left = end - p;
  if (b0 >= 0xC2 && b0 <= 0xDF) return left >= 2 && in(1, 0x80, 0xBF) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
    return left >= 3 && in(1, lo, hi) && in(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    unsigned lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
    return left >= 4 && in(1, lo, hi) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

// From p, at a byte from 0x80 on: past the plain and well-formed multi-byte characters, to where
// '"', '\\', a control character, a byte that starts no well-formed character, or the end is.
// Apart, so that a run without such characters costs no call.
[[gnu::noinline]] inline const char* MultiByteRunEnd(const char* p, const char* end) {
  do {
    do {  // such characters come in runs
      int length = Utf8Length(p, end);
      if (length == 0) return p;
      p += length;
    } while (p != end && static_cast<unsigned char>(*p) >= 0x80);
    p = PlainEnd(p, end);
  } while (p != end && static_cast<unsigned char>(*p) >= 0x80);
  return p;
}

// Past the plain and well-formed multi-byte characters from p, as MultiByteRunEnd.
inline const char* StringRunEnd(const char* p, const char* end) {
  p = PlainEnd(p, end);
  if (p != end && static_cast<unsigned char>(*p) >= 0x80) [[unlikely]]
    return MultiByteRunEnd(p, end);
  return p;
}

}  // namespace json_walk

template <class Handler>
class JsonWalk {
 public:
  JsonWalk(std::string_view text, Handler& handler, int max_depth = json_walk::kMaxDepth)
      : p_(text.data()), end_(text.data() + text.size()), h_(handler), max_depth_(max_depth) {}

  // Whether the text is one JSON value (blanks around it) and the handler took all of it.
  bool Walk() {
    if (!h_.on_document_begin(ec_)) return false;
    SkipBlanks();
    if (!Value()) return false;
    SkipBlanks();
    return p_ == end_ && h_.on_document_end(ec_);
  }

 private:
  void SkipBlanks() {  // one comparison for the usual case, no blank at all
    while (p_ < end_ && static_cast<unsigned char>(*p_) <= ' ' &&
           (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t'))
      ++p_;
  }
  bool At(char c) const { return p_ < end_ && *p_ == c; }
  // Takes `c`, after blanks if any (compact text has none: one comparison).
  bool Consume(char c) {
    if (!At(c)) {
      SkipBlanks();
      if (!At(c)) return false;
    }
    ++p_;
    return true;
  }

  bool Value() {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        return Object();
      case '[':
        return Array();
      case '"': {
        std::string_view s;
        return (Ignoring() ? Skip() : String(s)) && h_.on_string(Text(s), s.size(), ec_);
      }
      case 't':
        return Literal("true") && h_.on_bool(true, ec_);
      case 'f':
        return Literal("false") && h_.on_bool(false, ec_);
      case 'n':
        return Literal("null") && h_.on_null(ec_);
      default:
        return ReadNumber();
    }
  }

  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::memcmp(p_, word.data(), word.size()) != 0) return false;
    p_ += word.size();
    return true;
  }

  bool Object() {
    if (depth_ == max_depth_) return false;
    ++depth_;
    ++p_;
    if (!h_.on_object_begin(ec_)) return false;
    size_t members = 0;
    if (!Consume('}')) {
      do {
        SkipBlanks();
        std::string_view key;
        if (!At('"') || !(Ignoring() ? Skip() : String(key)) || !h_.on_key(Text(key), key.size(), ec_)) return false;
        if (!Consume(':')) return false;
        SkipBlanks();
        if (!Value()) return false;
        ++members;
      } while (Consume(','));
      if (!Consume('}')) return false;
    }
    --depth_;
    return h_.on_object_end(members, ec_);
  }

  bool Array() {
    if (depth_ == max_depth_) return false;
    ++depth_;
    ++p_;
    if (!h_.on_array_begin(ec_)) return false;
    size_t elements = 0;
    if (!Consume(']')) {
      do {
        SkipBlanks();
        if (!Value()) return false;
        ++elements;
      } while (Consume(','));
      if (!Consume(']')) return false;
    }
    --depth_;
    return h_.on_array_end(elements, ec_);
  }

  // The string at p_ (its opening quote), unescaped: in the text itself when it has no escape,
  // else in unescaped_.
  bool String(std::string_view& out) {
    const char* begin = ++p_;
    p_ = json_walk::StringRunEnd(p_, end_);
    if (At('"')) {
      out = std::string_view(begin, static_cast<size_t>(p_++ - begin));
      return true;
    }
    return Unescaped(begin, out);
  }

  // The rest of a string that has an escape (from p_ on; `begin` is past its opening quote), or
  // the refusal of one with a control character or a malformed one. Apart, so that the usual
  // string costs no call.
  [[gnu::noinline]] bool Unescaped(const char* begin, std::string_view& out) {
    unescaped_.assign(begin, p_);
    for (;;) {
      if (p_ == end_) return false;
      if (*p_ == '"') break;
      if (*p_ != '\\' || !Escape()) return false;  // a control character, or a malformed one
      const char* run = p_;
      p_ = json_walk::StringRunEnd(p_, end_);
      unescaped_.append(run, p_);
    }
    ++p_;
    out = unescaped_;
    return true;
  }

  // Whether the handler drops what it is told now (see the top).
  bool Ignoring() const {
    if constexpr (requires(const Handler& h) { h.Ignoring(); })
      return h_.Ignoring();
    else
      return false;
  }

  // The string at p_ (its opening quote), checked as String checks it, but not unescaped: an
  // escape is read into unescaped_, which is then dropped.
  bool Skip() {
    ++p_;
    for (;;) {
      p_ = json_walk::StringRunEnd(p_, end_);
      if (p_ == end_) return false;
      if (*p_ == '"') break;
      unescaped_.clear();
      if (*p_ != '\\' || !Escape()) return false;  // a control character, or a malformed one
    }
    ++p_;
    return true;
  }

  // The escape at p_ (its backslash), appended to unescaped_.
  bool Escape() {
    if (end_ - p_ < 2) return false;
    char c = p_[1];
    p_ += 2;
    switch (c) {
      case '"':
      case '\\':
      case '/':
        unescaped_ += c;
        return true;
      case 'b':
        unescaped_ += '\b';
        return true;
      case 'f':
        unescaped_ += '\f';
        return true;
      case 'n':
        unescaped_ += '\n';
        return true;
      case 'r':
        unescaped_ += '\r';
        return true;
      case 't':
        unescaped_ += '\t';
        return true;
      case 'u':
        break;
      default:
        return false;
    }
    int unit = CodeUnit();
    if (unit < 0) return false;
    char32_t cp = static_cast<char32_t>(unit);
    if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a trailing surrogate first
    if (cp >= 0xD800 && cp <= 0xDBFF) {              // a leading one: its trailing one must follow
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
      p_ += 2;
      int trailing = CodeUnit();
      if (trailing < 0xDC00 || trailing > 0xDFFF) return false;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<char32_t>(trailing) - 0xDC00);
    }
    AppendUtf8(unescaped_, cp);
    return true;
  }

  // The four hex digits at p_, or -1.
  int CodeUnit() {
    if (end_ - p_ < 4) return -1;
    int unit = 0;
    for (int k = 0; k < 4; ++k) {
      int d = HexDigit(p_[k]);
      if (d < 0) return -1;
      unit = unit * 16 + d;
    }
    p_ += 4;
    return unit;
  }

  // A number: a plain integer of at most 18 digits read here, anything else by the parser.
  bool ReadNumber() {
    const char* begin = p_;
    bool negative = At('-');
    if (negative) ++p_;
    const char* digits = p_;
    const char* limit = digits + std::min<ptrdiff_t>(18, end_ - digits);
    int64_t value = 0;
    const char* q = digits;
    for (; q < limit && static_cast<unsigned char>(*q - '0') < 10; ++q) value = value * 10 + (*q - '0');
    p_ = q;
    size_t count = static_cast<size_t>(p_ - digits);
    if (count == 0) return false;                                  // not a number, nor anything else
    bool plain = (count == 1 || *digits != '0') && !MoreNumber();  // a 19th digit is more
    if (plain) return h_.on_int64(negative ? -value : value, Text({begin, static_cast<size_t>(p_ - begin)}), ec_);
    while (MoreNumber()) ++p_;  // all a number could be made of: what the parser refuses, json::parse refuses
    std::string_view token(begin, static_cast<size_t>(p_ - begin));
    json_walk::Number n = json_walk::ParseNumber({begin, static_cast<size_t>(end_ - begin)}, token.size());
    if (!n.ok) return false;
    switch (n.kind) {
      case json_walk::Number::kInt64:
        return h_.on_int64(n.i, Text(token), ec_);
      case json_walk::Number::kUint64:
        return h_.on_uint64(n.u, Text(token), ec_);
      default:
        return h_.on_double(n.d, Text(token), ec_);
    }
  }
  bool MoreNumber() const {
    return p_ < end_ &&
           ((*p_ >= '0' && *p_ <= '9') || *p_ == '.' || *p_ == 'e' || *p_ == 'E' || *p_ == '+' || *p_ == '-');
  }

  static boost::json::string_view Text(std::string_view s) { return {s.data(), s.size()}; }

  const char* p_;
  const char* end_;
  Handler& h_;
  const int max_depth_;
  int depth_ = 0;
  boost::system::error_code ec_;
  std::string unescaped_;
};

// Walks `text` with `handler` (see JsonWalk), refusing values nested deeper than `max_depth`.
template <class Handler>
bool WalkJson(std::string_view text, Handler& handler, int max_depth = json_walk::kMaxDepth) {
  return JsonWalk<Handler>(text, handler, max_depth).Walk();
}

}  // namespace ap::proxy
