#pragma once
// UTF-8 and hex digits as every reader of outside text checks them: one decoder for the places
// that must tell well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF), one encoder, one hex digit.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ap {

struct Utf8Char {
  std::optional<char32_t> code;  // none: the byte does not start a well-formed sequence
  size_t length = 1;
};
// The character that starts at s[i] (i < s.size()).
Utf8Char DecodeUtf8At(std::string_view s, size_t i);
// Appends `cp` (at most U+10FFFF, not a surrogate) as UTF-8.
void AppendUtf8(std::string& out, char32_t cp);
// The value of hex digit `c`, or -1.
int HexDigit(char c);
// Outside text made fit for a log line or an error message: its first `most` bytes (never cut
// inside a character; "..." marks a cut), with each control character (C0, DEL, C1), line or
// paragraph separator and bidirectional control written as \u{XXXX}, and each byte that starts no
// well-formed character as \x{XX}: the text can neither start a line of its own nor reorder what
// follows it.
std::string PrintableText(std::string_view text, size_t most);

}  // namespace ap
