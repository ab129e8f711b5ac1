#pragma once
// Looking for a piece of text in a longer one, as the relay does in every event it passes on.
// std::string_view::find steps through the text one call of memchr per occurrence of the piece's
// first byte, which in JSON ('"', 's') is every few bytes, and glibc's memmem takes about ten
// instructions a byte; this one looks at sixteen positions at once, for both the piece's first and
// last byte, and compares the rest only where both are there.

#include <cstddef>
#include <string_view>

namespace ap {

// Where `part` first occurs in `text` at or after `from`, or std::string_view::npos (as
// text.find(part, from)).
size_t FindText(std::string_view text, std::string_view part, size_t from = 0);

}  // namespace ap
