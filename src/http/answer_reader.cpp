#include "http/answer_reader.hpp"

#include <algorithm>
#include <array>
#include <boost/beast/core/string.hpp>
#include <charconv>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ap::http {

namespace {

// tchar (RFC 9110, 5.6.2): the characters of a field's name, a coding, a chunk extension's name.
constexpr std::array<bool, 256> kTokenChar = [] {
  std::array<bool, 256> table{};
  for (unsigned char c : std::string_view("!#$%&'*+-.^_`|~")) table[c] = true;
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = table[c - 'a' + 'A'] = true;
  return table;
}();

// The first control character other than HTAB (CR where a line is well formed) from `p` on, or
// `end`: what a field's value and a reason phrase may hold is VCHAR, obs-text, SP and HTAB. Sixteen
// bytes at a time, then eight (a word with no byte under 0x20 and none 0x7f is passed at once; only
// a word that may hold one is looked at byte by byte).
const char* FirstControl(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i below_space = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8('\t'), del = _mm_set1_epi8(0x7f);
  for (; end - p >= 16; p += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, below_space), v);  // 0x00-0x1f, compared unsigned
    control = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), control), _mm_cmpeq_epi8(v, del));
    if (int mask = _mm_movemask_epi8(control)) return p + __builtin_ctz(static_cast<unsigned>(mask));
  }
#endif
  constexpr uint64_t kOnes = 0x0101010101010101, kHigh = 0x8080808080808080;
  while (p < end) {
    if (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, sizeof word);
      uint64_t del = word ^ (kOnes * 0x7f);
      if (((((word - kOnes * 0x20) & ~word) | ((del - kOnes) & ~del)) & kHigh) == 0) {
        p += 8;
        continue;
      }
    }
    for (const char* stop = std::min(p + 8, end); p < stop; ++p) {
      auto u = static_cast<unsigned char>(*p);
      if ((u < 0x20 && u != '\t') || u == 0x7f) return p;
    }
  }
  return end;
}

bool IsText(std::string_view text) {
  return FirstControl(text.data(), text.data() + text.size()) == text.data() + text.size();
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// Whether `name` (token characters) is `lower` (lowercase letters, digits and '-') in any case:
// of the token characters only a letter's two cases have the same bits but 0x20.
bool NameIs(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if ((name[i] | 0x20) != lower[i]) return false;
  return true;
}

// Where the token characters from `p` on end. Sixteen bytes at a time while they are letters,
// digits and '-' (what field names are written in), the other token characters one at a time.
const char* TokenEnd(const char* p, const char* end) {
  auto token = [](char c) { return kTokenChar[static_cast<unsigned char>(c)]; };
#if defined(__SSE2__)
  // Signed comparisons: bytes from 0x80 on are below every bound, so never in a range.
  const __m128i case_bit = _mm_set1_epi8(0x20), before_a = _mm_set1_epi8('a' - 1), after_z = _mm_set1_epi8('z' + 1),
                before_0 = _mm_set1_epi8('0' - 1), after_9 = _mm_set1_epi8('9' + 1), dash = _mm_set1_epi8('-');
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i folded = _mm_or_si128(v, case_bit);  // 'A'-'Z' to 'a'-'z'; no other byte lands there
    __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(folded, before_a), _mm_cmplt_epi8(folded, after_z));
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, before_0), _mm_cmplt_epi8(v, after_9));
    __m128i usual = _mm_or_si128(_mm_or_si128(letter, digit), _mm_cmpeq_epi8(v, dash));
    auto other = static_cast<unsigned>(~_mm_movemask_epi8(usual)) & 0xffff;
    if (other == 0) {
      p += 16;
      continue;
    }
    p += __builtin_ctz(other);
    if (!token(*p)) return p;
    ++p;
  }
#endif
  while (end - p >= 4 && token(p[0]) && token(p[1]) && token(p[2]) && token(p[3])) p += 4;
  while (p < end && token(*p)) ++p;
  return p;
}

bool IsToken(std::string_view text) {
  return !text.empty() && TokenEnd(text.data(), text.data() + text.size()) == text.data() + text.size();
}

// The line at the start of `bytes` without its CRLF, and its length with it; nullopt when the
// bytes end first, a length of 0 for a line that ends in a bare LF.
std::optional<std::pair<std::string_view, size_t>> LineAt(std::string_view bytes) {
  if (bytes.empty()) return std::nullopt;
  const void* lf = std::memchr(bytes.data(), '\n', bytes.size());
  if (!lf) return std::nullopt;
  size_t end = static_cast<size_t>(static_cast<const char*>(lf) - bytes.data());
  if (end == 0 || bytes[end - 1] != '\r') return std::pair<std::string_view, size_t>{{}, 0};
  return std::pair<std::string_view, size_t>{bytes.substr(0, end - 1), end + 1};
}

// chunk-ext (RFC 9112, 7.1.1): *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ).
bool IsChunkExtension(std::string_view text) {
  auto skip_blanks = [&] {
    while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
  };
  auto take_token = [&] {
    size_t n = 0;
    while (n < text.size() && kTokenChar[static_cast<unsigned char>(text[n])]) ++n;
    text.remove_prefix(n);
    return n > 0;
  };
  auto take_quoted = [&] {
    text.remove_prefix(1);  // the opening quote
    while (!text.empty()) {
      auto c = static_cast<unsigned char>(text.front());
      text.remove_prefix(1);
      if (c == '"') return true;
      if (c == '\\') {
        if (text.empty() || !IsText(text.substr(0, 1))) return false;
        text.remove_prefix(1);
      } else if (!(c == '\t' || (c >= 0x20 && c != 0x7f))) {
        return false;
      }
    }
    return false;
  };
  // No blank may end it: blanks go on to a ';', or after a name to a '=' (as Beast's parser reads it).
  for (;;) {
    if (text.empty()) return true;
    skip_blanks();
    if (text.empty() || text.front() != ';') return false;
    text.remove_prefix(1);
    skip_blanks();
    if (!take_token()) return false;
    size_t before = text.size();
    skip_blanks();
    if (!text.empty() && text.front() == '=') {
      text.remove_prefix(1);
      skip_blanks();
      if (!text.empty() && text.front() == '"' ? !take_quoted() : !take_token()) return false;
    } else if (text.size() != before && (text.empty() || text.front() != ';')) {
      return false;
    }
  }
}

}  // namespace

AnswerReader::AnswerReader(std::span<const FieldName> keep, bool answers_head)
    : keep_(keep), answers_head_(answers_head) {}

bool AnswerReader::Fail(const char* why) {
  fault_ = why;
  return false;
}

size_t AnswerReader::ReadHead(std::string_view bytes) {
  size_t used = 0;
  while (state_ == State::kHead) {
    size_t size = ParseHead(bytes.substr(used));
    if (size == 0) return 0;
    used += size;
    // Interim heads are read again with each try at the final one: their bytes are bounded too.
    if (state_ == State::kHead && used > kMaxHead) return Fail("interim answers over 8 KB"), 0;
  }
  return used;
}

size_t AnswerReader::ParseHead(std::string_view bytes) {
  head_ = ResponseHead();  // what an earlier try at a head that had not all come yet left
  length_.reset();
  chunked_ = close_ = keep_alive_token_ = false;
  bytes = bytes.substr(0, kMaxHead);
  auto status_line = LineAt(bytes);
  size_t size = status_line ? status_line->second : 0;
  if (size > 0 && !ParseStatusLine(status_line->first)) return 0;
  if (status_line && size == 0) return Fail("a line that ends without CR"), 0;
  while (size > 0) {
    size_t line = ParseFieldLine(bytes.substr(size), false);
    size += line;
    if (line == 2) break;  // the empty line that ends the head
    if (line == 0) size = 0;
  }
  if (size == 0) {
    if (bytes.size() == kMaxHead && !fault_) Fail("a head over 8 KB");
    return 0;
  }
  unsigned status = head_.result_int();
  if (status == 101) return Fail("a switch of protocols"), 0;
  if (status / 100 != 1 && !StartBody()) return 0;  // 1xx: interim, the final head follows
  return size;
}

bool AnswerReader::ParseStatusLine(std::string_view line) {
  // HTTP-version SP 3DIGIT SP reason-phrase, in HTTP/1.0 or HTTP/1.1 (as Beast's parser takes it).
  constexpr std::string_view kVersion = "HTTP/1.";
  if (line.size() < 13 || line.substr(0, 7) != kVersion || (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
      line[12] != ' ')
    return Fail("a malformed status line");
  unsigned status = 0;
  for (char c : line.substr(9, 3)) {
    if (c < '0' || c > '9') return Fail("a malformed status code");
    status = status * 10 + static_cast<unsigned>(c - '0');
  }
  if (status < 100) return Fail("a status code under 100");
  std::string_view reason = line.substr(13);
  if (!IsText(reason)) return Fail("a control character in the reason phrase");
  head_.version(line[7] == '1' ? 11 : 10);
  head_.result(status);
  head_.reason(reason);
  return true;
}

size_t AnswerReader::ParseFieldLine(std::string_view bytes, bool trailer) {
  // One pass: the name to its colon, blanks, the value to the first control character, which must
  // be the CR of the line's CRLF.
  const char* begin = bytes.data();
  const char* end = begin + bytes.size();
  const char* p = begin;
  if (p < end && *p == '\r') {
    if (p + 1 == end) return 0;
    return p[1] == '\n' ? 2 : (Fail("a control character in a field's name"), 0);
  }
  p = TokenEnd(p, end);
  if (p == end) return 0;
  if (*p != ':' || p == begin) {
    if (IsBlank(*begin)) return Fail("a folded line"), 0;
    if (*p == '\r' || *p == '\n') return Fail("a field line without a colon"), 0;
    return Fail("a malformed field name"), 0;
  }
  std::string_view name(begin, static_cast<size_t>(p - begin));
  for (++p; p < end && IsBlank(*p);) ++p;
  const char* value_begin = p;
  p = FirstControl(p, end);
  if (p == end || (*p == '\r' && p + 1 == end)) return 0;
  if (*p == '\n') return Fail("a line that ends without CR"), 0;
  if (*p != '\r' || p[1] != '\n') return Fail("a control character in a field's value"), 0;
  const char* value_end = p;
  while (value_end > value_begin && IsBlank(value_end[-1])) --value_end;
  std::string_view value(value_begin, static_cast<size_t>(value_end - value_begin));
  size_t size = static_cast<size_t>(p + 2 - begin);
  // A trailer is not kept: the head has been handed on. One that would frame the body is refused,
  // and Connection counts, as in Beast's parser.
  if (trailer && (NameIs(name, "content-length") || NameIs(name, "transfer-encoding")))
    return Fail("a trailer that frames the body"), 0;
  if (!ParseFraming(name, value)) return 0;
  if (trailer) return size;
  if (keep_.empty()) {
    head_.insert(name, value);
    return size;
  }
  for (const FieldName& kept : keep_)
    if (name.size() == kept.Text().size() && boost::beast::iequals(name, kept.Text())) {
      head_.insert(kept.Known(), name, value);  // numbered already: Beast need not look the name up
      break;
    }
  return size;
}

// The fields that say how the body is framed and whether the connection lasts, kept or not.
bool AnswerReader::ParseFraming(std::string_view name, std::string_view value) {
  switch (name.size()) {
    case 14:  // content-length
      if (NameIs(name, "content-length")) {
        uint64_t length = 0;  // 1*DIGIT: from_chars takes no sign, no blank, and refuses what wraps
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
        if (value.empty() || ec != std::errc() || end != value.data() + value.size())
          return Fail("a malformed Content-Length");
        if (length_ && *length_ != length) return Fail("two different Content-Lengths");
        length_ = length;
      }
      return true;
    case 17:  // transfer-encoding
      if (NameIs(name, "transfer-encoding")) {
        bool any = false;
        bool read = ForEachElement(value, [&](std::string_view coding) {
          if (!boost::beast::iequals(coding, "chunked")) return Fail("a transfer coding other than chunked");
          if (chunked_) return Fail("chunked twice");
          chunked_ = any = true;
          return true;
        });
        return read && (any || Fail("an empty Transfer-Encoding"));
      }
      return true;
    case 10:  // connection
    case 16:  // proxy-connection
      if (NameIs(name, "connection") || NameIs(name, "proxy-connection"))
        return ForEachElement(value, [&](std::string_view option) {
          if (!IsToken(option)) return Fail("a malformed Connection");
          close_ = close_ || boost::beast::iequals(option, "close");
          keep_alive_token_ = keep_alive_token_ || boost::beast::iequals(option, "keep-alive");
          return true;
        });
      return true;
    default:
      return true;
  }
}

bool AnswerReader::StartBody() {
  if (chunked_ && length_) return Fail("both a Content-Length and chunks");
  unsigned status = head_.result_int();
  if (answers_head_ || status == 204 || status == 304) {
    // A 204 may declare no body (RFC 9112, 6.1 and 6.2); one that does may send it all the same,
    // after the head, where the next call on the connection would read it as its answer.
    if (status == 204 && (chunked_ || length_.value_or(0) > 0)) close_ = true;
    state_ = State::kDone;  // whatever length it says: there is no body
    length_ = 0;
  } else if (chunked_) {
    state_ = State::kChunkLine;
  } else if (length_) {
    left_ = *length_;
    state_ = left_ > 0 ? State::kLength : State::kDone;
  } else {
    state_ = State::kUntilClose;
    until_close_ = true;
  }
  return true;
}

size_t AnswerReader::ReadBody(std::string_view bytes, std::string_view& content) {
  content = {};
  size_t used = 0;
  while (!fault_) {
    std::string_view rest = bytes.substr(used);
    switch (state_) {
      case State::kHead:
      case State::kDone:
        return used;
      case State::kUntilClose:
        content = rest;
        return used + rest.size();
      case State::kLength:
      case State::kChunkData: {
        if (rest.empty()) return used;
        size_t n = static_cast<size_t>(std::min<uint64_t>(left_, rest.size()));
        content = rest.substr(0, n);
        left_ -= n;
        if (left_ == 0) state_ = state_ == State::kLength ? State::kDone : State::kChunkEnd;
        return used + n;
      }
      case State::kChunkEnd:
        if (rest.size() < 2) return used;
        if (rest.substr(0, 2) != "\r\n") return Fail("a chunk longer than its size"), 0;
        used += 2;
        state_ = State::kChunkLine;
        break;
      case State::kChunkLine: {
        auto line = LineAt(rest.substr(0, kMaxChunkLine));
        if (!line) {
          if (rest.size() >= kMaxChunkLine) Fail("a chunk line over 4 KB");
          return used;
        }
        if (line->second == 0) return Fail("a line that ends without CR"), 0;
        if (!ParseChunkLine(line->first)) return 0;
        used += line->second;
        break;
      }
      case State::kTrailer: {
        size_t line = ParseFieldLine(rest.substr(0, kMaxHead - trailer_bytes_), true);
        if (line == 0) {
          if (!fault_ && rest.size() >= kMaxHead - trailer_bytes_) Fail("trailers over 8 KB");
          return fault_ ? 0 : used;
        }
        if (line == 2) state_ = State::kDone;
        used += line;
        trailer_bytes_ += line;
        break;
      }
    }
  }
  return 0;
}

bool AnswerReader::ParseChunkLine(std::string_view line) {
  uint64_t size = 0;  // 1*HEXDIG: from_chars takes no sign and no "0x"
  auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
  if (ec == std::errc::result_out_of_range) return Fail("a chunk size over 64 bits");
  if (ec != std::errc()) return Fail("a malformed chunk size");
  if (!IsChunkExtension(line.substr(static_cast<size_t>(end - line.data()))))
    return Fail("a malformed chunk extension");
  left_ = size;
  state_ = size > 0 ? State::kChunkData : State::kTrailer;
  return true;
}

bool AnswerReader::Closed() {
  if (state_ == State::kUntilClose) {
    state_ = State::kDone;
    return true;
  }
  if (!fault_) fault_ = "the connection closed before the answer's end";
  return false;
}

}  // namespace ap::http
