#pragma once
// The head of an answer kept as the bytes it goes out as: its status and its fields, each an
// "Name: value\r\n" line. A relayed answer's fields are all known as it is made (the provider's
// few passed fields, the grant's rate headers, the broker's own), and a Beast field map costs
// about 350 instructions a field to fill (an allocation, the name looked up, a case-blind ordered
// insert) only to be written out once; this head is appended to instead. The server adds the
// status line, its own fields and the framing (http/exchange.hpp, SendAnswer).
// Thread-safety: none; one per answer.

#include <string>
#include <string_view>

namespace ap::http {

struct AnswerHead {
  unsigned status = 200;
  std::string fields;  // "Name: value\r\n" lines

  // Appends a field. `name` is the code's own (a constant: asserted to be a name). One whose value
  // could end its line (CR, LF) is left out, so that no value ever adds a field of its own; false
  // then.
  bool Add(std::string_view name, std::string_view value);
  // Whether a field named `name` (compared without regard to case) is there.
  bool Has(std::string_view name) const;
};

}  // namespace ap::http
