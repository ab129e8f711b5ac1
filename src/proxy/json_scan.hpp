#pragma once
// Reads only what policy needs from a JSON text: the whole text is validated exactly as
// boost::json::parse validates it (proxy/json_walk.hpp), but only the members named by a
// ScanRule tree are built into a value; everything else is skipped without allocating. The kept
// value has the same shape at the kept paths as the full parse would have, so code written for
// the full value reads the kept one unchanged. Keys are compared unescaped ("mod\u0065l" is
// "model"), and only the members the rules name are kept: a nested "model" is never read as the
// top-level one.
// Also here: locating members and elements in text already validated, so that a body can be
// changed by splicing bytes instead of being parsed and serialized again.

#include <boost/json/fwd.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ap::proxy {

struct ScanRule;

struct ScanMember {
  std::string_view name;
  const ScanRule* rule;
};

enum class ScanKeep {
  kAll,         // the whole value
  kShape,       // scalars as they are; an object or array kept empty (an array that had elements keeps one null)
  kKind,        // as kShape, but a string kept empty: what kind of value it is, not its text
  kSelect,      // scalars as they are; objects keep `members` (then those of the `also` rules, then others
                // by `other_members`); arrays each element by `elements`
  kSelectKind,  // as kSelect, but a string kept empty: a conversation's structure without its text
};

struct ScanRule {
  constexpr explicit ScanRule(ScanKeep k, std::span<const ScanMember> named = {}, const ScanRule* other = nullptr,
                              const ScanRule* each = nullptr, const ScanRule* more = nullptr)
      : keep(k), members(named), other_members(other), elements(each), also(more) {}

  ScanKeep keep;
  std::span<const ScanMember> members;
  const ScanRule* other_members;  // members not named; null: dropped
  const ScanRule* elements;       // null: elements dropped
  const ScanRule* also;           // another rule whose `members` (and its `also`'s) this one keeps too
};

enum class Duplicates {
  kLastWins,  // as boost::json::parse (and the providers' parsers) read them
  kRefuse,    // a kept member named twice in one object fails the scan
};

struct ScanResult {
  bool valid = false;     // the text is JSON (as boost::json::parse accepts it)
  std::string duplicate;  // with Duplicates::kRefuse: the member named twice (the scan failed)
  boost::json::value value;
};

// Scans `text`; the kept value lives in `storage`.
ScanResult ScanJson(std::string_view text, const ScanRule& root, Duplicates duplicates,
                    boost::json::storage_ptr storage = {});

// Text positions in JSON text that is known to be valid.
struct JsonMember {
  std::string_view raw_name;  // as written, without quotes (escapes not undone)
  size_t value_begin = 0;
  size_t value_end = 0;
};
// The members of the object that starts at `object_begin` (its '{').
std::vector<JsonMember> ObjectMembers(std::string_view text, size_t object_begin);
// The [begin, end) of each element of the array that starts at `array_begin` (its '['); none when no
// array starts there.
std::vector<std::pair<size_t, size_t>> ArrayElements(std::string_view text, size_t array_begin);
// A member's name with its escapes undone.
std::string MemberName(const JsonMember& member);
// Where the first value of `text` starts (after whitespace).
size_t FirstValue(std::string_view text);

// Byte edits on a text, applied together (positions refer to the original text).
class TextEdits {
 public:
  void Replace(size_t begin, size_t end, std::string text) { edits_.push_back({begin, end, std::move(text)}); }
  void Insert(size_t at, std::string text) { Replace(at, at, std::move(text)); }
  // Sets member `name` of the object at `object_begin` to the JSON `value`: replaces its value if
  // the object has that member, else adds it as its last member. `absent`: the caller knows the
  // object has no such member (the object's members are then not looked through). Only for an
  // object scanned with duplicates refused: it replaces the first member of that name, and a
  // provider reads the last.
  void SetMember(std::string_view text, size_t object_begin, std::string_view name, std::string_view value,
                 bool absent = false);
  bool Empty() const { return edits_.empty(); }
  std::string Apply(std::string_view text) const;

 private:
  struct Edit {
    size_t begin, end;
    std::string text;
  };
  std::vector<Edit> edits_;
};

}  // namespace ap::proxy
