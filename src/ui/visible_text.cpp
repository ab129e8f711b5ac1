#include "ui/visible_text.hpp"

#include <arpa/inet.h>
#include <idn2.h>
#include <libpsl.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <optional>

#include "core/utf8.hpp"

namespace ap::ui {
namespace {

bool IsVariationSelector(char32_t c) {
  return (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xE0100 && c <= 0xE01EF) || (c >= 0x180B && c <= 0x180D) ||
         c == 0x180F;
}

// Characters that show nothing, or change how the characters around them are ordered or joined.
bool IsHidden(char32_t c) {
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) ||  // C0, DEL, C1
         c == 0x00AD ||                           // soft hyphen
         c == 0x034F ||                           // combining grapheme joiner
         c == 0x061C ||                           // Arabic letter mark
         c == 0x115F || c == 0x1160 || c == 0x3164 || c == 0xFFA0 ||  // Hangul fillers
         c == 0x17B4 || c == 0x17B5 ||                                // Khmer inherent vowels
         c == 0x180E ||                                               // Mongolian vowel separator
         (c >= 0x200B && c <= 0x200F) ||                              // zero-width, LRM, RLM
         (c >= 0x2028 && c <= 0x202E) ||                              // separators, embeddings, overrides
         (c >= 0x2060 && c <= 0x206F) ||                              // word joiner, invisible operators, isolates
         c == 0x2800 ||                                               // braille blank
         c == 0xFEFF ||                                               // zero-width no-break space
         (c >= 0xFFF9 && c <= 0xFFFB) ||                              // interlinear annotation
         (c >= 0x1BCA0 && c <= 0x1BCA3) ||                            // shorthand format controls
         (c >= 0x1D173 && c <= 0x1D17A) ||                            // musical format characters
         (c >= 0xE0000 && c <= 0xE0FFF);                              // tags and reserved default-ignorables
}

// Unicode's nonspacing and enclosing marks, of every script: a run of them stacks on one letter
// and draws a tower over the lines around it ("Zalgo" text); no language writes more than a few on
// a letter. All of them, as any that were left out would end a run (Lao's, Arabic's extended ones).
bool IsStackingMark(char32_t c) {
  struct Range {
    char32_t first, last;
  };
  static constexpr Range kMarks[] = {
#include "ui/stacking_marks.inc"
  };
  auto after = std::upper_bound(std::begin(kMarks), std::end(kMarks), c,
                                [](char32_t code, const Range& r) { return code < r.first; });
  return after != std::begin(kMarks) && c <= std::prev(after)->last;
}
// How many such marks in a row are shown as marks.
constexpr int kMostStackedMarks = 3;

std::string Escape(const char* format, unsigned value) {
  char out[16];
  std::snprintf(out, sizeof out, format, value);
  return std::string("\u27E8") + out + "\u27E9";
}

// Calls `out(piece, hidden)` for each character or escape of `text`.
template <class Out>
void Walk(std::string_view text, Out&& out) {
  bool after_non_ascii = false;  // a variation selector may follow a non-ASCII character once
  int marks = 0;                 // stacking marks just before this character
  for (size_t i = 0; i < text.size();) {
    Utf8Char d = DecodeUtf8At(text, i);
    if (!d.code) {
      out(Escape("0x%02X", static_cast<unsigned char>(text[i])), true);
      after_non_ascii = false;
      i += 1;
      continue;
    }
    char32_t c = *d.code;
    marks = IsStackingMark(c) ? marks + 1 : 0;
    bool hidden = IsHidden(c) || (IsVariationSelector(c) && !after_non_ascii) || marks > kMostStackedMarks;
    if (hidden)
      out(CharacterEscape(c), true);
    else
      out(std::string(text.substr(i, d.length)), false);
    after_non_ascii = !hidden && c >= 0x80 && !IsVariationSelector(c);
    i += d.length;
  }
}

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : static_cast<char>(c); });
  return out;
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Debian's publicsuffix package when it is newer than libpsl's built-in list, else the built-in one.
const psl_ctx_t* PublicSuffixes() {
  static const psl_ctx_t* psl = [] {
    const psl_ctx_t* latest = psl_latest(nullptr);
    return latest ? latest : psl_builtin();
  }();
  return psl;
}

struct FreeIdn {
  void operator()(char* p) const { idn2_free(p); }
};

}  // namespace

std::string CharacterEscape(char32_t c) { return Escape("U+%04X", static_cast<unsigned>(c)); }

std::string VisibleText(std::string_view text) {
  std::string shown;
  shown.reserve(text.size());
  Walk(text, [&](const std::string& piece, bool) { shown += piece; });
  return shown;
}

bool HasHiddenCharacters(std::string_view text) {
  bool any = false;
  Walk(text, [&](const std::string&, bool hidden) { any = any || hidden; });
  return any;
}

ShownHost ShowHost(std::string_view host) {
  ShownHost shown;
  std::string name(host);
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  if (name.empty() || name.find('\0') != std::string::npos) {
    shown.unicode = VisibleText(name);
    return shown;
  }
  if (IsIpAddress(name)) {
    shown.valid = shown.ip = true;
    shown.unicode = shown.ascii = shown.registrable = name;
    return shown;
  }
  if (name.back() == '.') name.pop_back();  // "example.com." is example.com
  char* ascii_raw = nullptr;
  int rc = idn2_to_ascii_8z(name.c_str(), &ascii_raw, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
  std::unique_ptr<char, FreeIdn> ascii(ascii_raw);
  if (rc != IDN2_OK || !ascii) {
    shown.unicode = VisibleText(host);
    return shown;
  }
  shown.ascii = Lower(ascii.get());
  char* unicode_raw = nullptr;
  rc = idn2_to_unicode_8z8z(shown.ascii.c_str(), &unicode_raw, 0);
  std::unique_ptr<char, FreeIdn> unicode(unicode_raw);
  shown.unicode = VisibleText(rc == IDN2_OK && unicode ? std::string_view(unicode.get()) : shown.ascii);
  const char* registrable = psl_registrable_domain(PublicSuffixes(), shown.ascii.c_str());
  shown.registrable = registrable ? registrable : shown.ascii;
  shown.valid = true;
  return shown;
}

ShownHost HostOfUrl(std::string_view url) {
  std::string terminated(url);  // Boost.URL 1.81 reads to a NUL
  auto parsed = boost::urls::parse_absolute_uri(terminated);
  if (!parsed || !parsed->has_authority() || (parsed->scheme() != "http" && parsed->scheme() != "https")) return {};
  ShownHost shown = ShowHost(parsed->host());  // decoded: "%D0%B0pple.com" is shown as the "аpple.com" it is
  shown.port = parsed->port();
  return shown;
}

std::string HostWords(const ShownHost& host) {
  if (!host.valid) return host.unicode + " (not a valid host name)";
  if (host.unicode == host.ascii) return host.ascii;
  return host.unicode + " (" + host.ascii + ")";
}

}  // namespace ap::ui
