#pragma once
// Finding a message's fields by walking its list. Beast's find() looks a name up in a tree,
// comparing letter by letter without regard to case, even for a field it knows by number: about
// 450 instructions, where walking the few fields of an API message comparing numbers takes a
// tenth of that (callgrind). Walk once for several names.

#include <boost/assert.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace ap::http {

// A field name as written, and as Beast numbers it (field::unknown for a name it has no number for).
// It views the name: give it a literal or a constant.
class FieldName {
 public:
  explicit FieldName(std::string_view name) : text_(name), known_(boost::beast::http::string_to_field(name)) {}

  std::string_view Text() const { return text_; }
  boost::beast::http::field Known() const { return known_; }
  // Whether `field` (an element of a message's fields) has this name, in any case.
  template <class Field>
  bool Names(const Field& field) const {
    return Names(field.name(), field.name_string());
  }
  // Whether a field Beast numbers `known` and that is written `text` has this name.
  bool Names(boost::beast::http::field known, std::string_view text) const {
    if (known_ != boost::beast::http::field::unknown) return known == known_;
    // The length first, here: Beast's iequals is a call away, and most fields are another length.
    return known == boost::beast::http::field::unknown && text.size() == text_.size() &&
           boost::beast::iequals(text, text_);
  }

 private:
  std::string_view text_;
  boost::beast::http::field known_;
};

// The value of the first field of `fields` named `name` (as Beast's find gives it), if there is one.
template <class Fields>
std::optional<std::string_view> FirstValue(const Fields& fields, boost::beast::http::field name) {
  BOOST_ASSERT(name != boost::beast::http::field::unknown);  // every unnamed field would match: use FieldName
  for (const auto& field : fields)
    if (field.name() == name) return std::string_view(field.value());
  return std::nullopt;
}

// Calls on_field(i, first, value) for each field of `fields` named names[i] (64 names at most), in
// the order the fields came; `first`: it is the first field of that name. One walk for several names.
template <class Fields, class OnField>
void ForEachNamed(const Fields& fields, std::span<const FieldName> names, OnField on_field) {
  BOOST_ASSERT(names.size() <= 64);
  uint64_t seen = 0;
  for (const auto& field : fields)
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i].Names(field)) {
        bool first = !(seen >> i & 1);
        seen |= uint64_t{1} << i;
        on_field(i, first, std::string_view(field.value()));
        break;
      }
}

// Calls on_first(name, value) for the first field of `fields` with each of `names` (64 at most),
// in the order the fields came.
template <class Fields, class OnFirst>
void ForFirstOfEach(const Fields& fields, std::span<const FieldName> names, OnFirst on_first) {
  ForEachNamed(fields, names, [&](size_t i, bool first, std::string_view value) {
    if (first) on_first(names[i], value);
  });
}

// A field value's text without the blanks (SP, HTAB) around it.
inline std::string_view TrimBlanks(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Calls on_element(element) for each element of a comma-separated list, blanks trimmed, empty
// elements skipped (RFC 9110, 5.6.1). Stops at the first false it returns, and returns false then.
template <class OnElement>
bool ForEachElement(std::string_view list, OnElement on_element) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view element = TrimBlanks(list.substr(0, comma));
    if (!element.empty() && !on_element(element)) return false;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return true;
}

// Whether `fields` has a field named `name`.
template <class Fields>
bool Has(const Fields& fields, const FieldName& name) {
  for (const auto& field : fields)
    if (name.Names(field)) return true;
  return false;
}

}  // namespace ap::http
