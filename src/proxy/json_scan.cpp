#include "proxy/json_scan.hpp"

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <boost/json.hpp>
#include <functional>
#include <type_traits>

#include "proxy/json_walk.hpp"

namespace ap::proxy {
namespace json = boost::json;
namespace {

// Builds only the kept parts of the value; a dropped container is counted through, not built. A
// kept container is put in its parent when it begins and built in place (nothing moves it while
// it is built), so nothing is copied up when it ends; a member's key is read where the text has it.
class KeepHandler {
 public:
  KeepHandler(std::string_view text, const ScanRule& root, Duplicates duplicates, json::storage_ptr storage)
      : text_(text), root_(root), duplicates_(duplicates), storage_(std::move(storage)), result_(storage_) {}

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }

  bool on_object_begin(boost::system::error_code& ec) { return Begin(true, ec); }
  bool on_array_begin(boost::system::error_code& ec) { return Begin(false, ec); }
  bool on_object_end(size_t n, boost::system::error_code& ec) { return End(true, n, ec); }
  bool on_array_end(size_t n, boost::system::error_code& ec) { return End(false, n, ec); }

  bool on_key(json::string_view s, size_t, boost::system::error_code&) {
    if (skip_ > 0) return true;
    key_ = std::string_view(s.data(), s.size());
    // A key the walk rewrote (one with an escape) is in its buffer, which the value may reuse:
    // copied. Any other is in the text.
    if (!InText(key_)) key_ = escaped_key_.assign(key_);
    const ScanRule* rule = frames_.back().rule;
    pending_ = nullptr;
    if (rule->keep == ScanKeep::kAll) {
      pending_ = rule;
      return true;
    }
    for (const ScanRule* r = rule; r && !pending_; r = r->also) pending_ = Named(*r, key_);
    if (!pending_) pending_ = rule->other_members;
    blank_next_ = Blanks(pending_);
    return true;
  }
  bool on_string(json::string_view s, size_t, boost::system::error_code& ec) { return Scalar(s, ec); }
  bool on_int64(int64_t i, json::string_view, boost::system::error_code& ec) { return Scalar(i, ec); }
  bool on_uint64(uint64_t u, json::string_view, boost::system::error_code& ec) { return Scalar(u, ec); }
  bool on_double(double d, json::string_view, boost::system::error_code& ec) { return Scalar(d, ec); }
  bool on_bool(bool b, boost::system::error_code& ec) { return Scalar(b, ec); }
  bool on_null(boost::system::error_code& ec) { return Scalar(nullptr, ec); }
  // Inside a container that is not built, or at a string kept empty (the walk then checks its
  // strings but tells them empty).
  bool Ignoring() const { return skip_ > 0 || blank_next_; }

  json::value& Result() { return result_; }
  std::string Duplicate() const { return duplicate_; }

 private:
  struct Frame {
    const ScanRule* rule = nullptr;
    json::value* value = nullptr;  // in its parent (or the result), built in place
  };

  // The rule `rule` keeps member `key` by, if it names it. A body's top level is compared with
  // some forty names: the length and first letter tell most apart without a call to memcmp.
  static const ScanRule* Named(const ScanRule& rule, std::string_view key) {
    for (const ScanMember& m : rule.members)
      if (m.name.size() == key.size() && !key.empty() && m.name[0] == key[0] && m.name == key) return m.rule;
    return nullptr;
  }

  // Room for the members an object kept by `rule` usually has, so that it is not grown one at a
  // time: those it names, where it keeps no others (a few, where it names many).
  static size_t ExpectedMembers(const ScanRule& rule) {
    if ((rule.keep != ScanKeep::kSelect && rule.keep != ScanKeep::kSelectKind) || rule.other_members) return 0;
    size_t named = 0;
    for (const ScanRule* r = &rule; r; r = r->also) named += r->members.size();
    return std::min<size_t>(named, 4);
  }

  // Whether a string kept by `rule` is kept empty.
  static bool Blanks(const ScanRule* rule) {
    return rule && (rule->keep == ScanKeep::kKind || rule->keep == ScanKeep::kSelectKind);
  }

  // After a value: whether the next one, an array's element, is a string kept empty (an object's
  // next is a key, which on_key reads for).
  void ExpectNext() {
    blank_next_ = skip_ == 0 && !frames_.empty() && frames_.back().value->is_array() && Blanks(Next());
  }

  // The rule for the next value, or null when it is dropped.
  const ScanRule* Next() const {
    if (skip_ > 0) return nullptr;
    if (frames_.empty()) return at_root_ ? &root_ : nullptr;
    const Frame& f = frames_.back();
    if (f.value->is_object()) return pending_;
    return f.rule->keep == ScanKeep::kAll ? f.rule : f.rule->elements;
  }

  // Where the next (kept) value goes; null when its key was given twice and that is refused.
  json::value* Slot(boost::system::error_code& ec) {
    if (frames_.empty()) {
      at_root_ = false;
      return &result_;
    }
    json::value& parent = *frames_.back().value;
    if (parent.is_array()) return &parent.get_array().emplace_back(nullptr);
    json::object& o = parent.get_object();
    if (o.capacity() == 0) o.reserve(ExpectedMembers(*frames_.back().rule));  // not for an empty one
    auto [member, added] = o.emplace(key_, nullptr);
    if (!added && duplicates_ == Duplicates::kRefuse) {
      duplicate_ = key_;
      ec = make_error_code(boost::system::errc::invalid_argument);
      return nullptr;
    }
    return &member->value();  // a repeated key: the last one wins
  }

  bool Begin(bool object, boost::system::error_code& ec) {
    blank_next_ = false;
    if (skip_ > 0) {
      ++skip_;
      return true;
    }
    const ScanRule* rule = Next();
    if (!rule || rule->keep == ScanKeep::kShape || rule->keep == ScanKeep::kKind) {
      skip_ = 1;
      shape_ = rule != nullptr;
      return true;
    }
    json::value* slot = Slot(ec);
    if (!slot) return false;
    if (object)
      slot->emplace_object();
    else
      slot->emplace_array();
    frames_.push_back(Frame{rule, slot});
    ExpectNext();
    return true;
  }

  bool End(bool object, size_t n, boost::system::error_code& ec) {
    if (skip_ == 0) {
      frames_.pop_back();
      ExpectNext();
      return true;
    }
    if (--skip_ > 0 || !shape_) return true;
    shape_ = false;
    json::value* slot = Slot(ec);
    if (!slot) return false;
    if (object) {
      slot->emplace_object();
    } else {
      json::array& a = slot->emplace_array();
      if (n > 0) a.emplace_back(nullptr);
    }
    ExpectNext();
    return true;
  }

  bool InText(std::string_view s) const {
    std::less<const char*> before;
    return !before(s.data(), text_.data()) && before(s.data(), text_.data() + text_.size());
  }

  // A scalar built in place (assigning one would build it apart, then swap it in).
  static void Set(json::value& slot, json::string_view s) { slot.emplace_string().assign(s); }
  static void Set(json::value& slot, int64_t i) { slot.emplace_int64() = i; }
  static void Set(json::value& slot, uint64_t u) { slot.emplace_uint64() = u; }
  static void Set(json::value& slot, double d) { slot.emplace_double() = d; }
  static void Set(json::value& slot, bool b) { slot.emplace_bool() = b; }
  static void Set(json::value& slot, std::nullptr_t) { slot.emplace_null(); }

  template <class T>
  bool Scalar(T v, boost::system::error_code& ec) {
    const ScanRule* rule = Next();
    ExpectNext();
    if (!rule) return true;
    json::value* slot = Slot(ec);
    if (!slot) return false;
    if constexpr (std::is_same_v<T, json::string_view>)
      if (rule->keep == ScanKeep::kKind || rule->keep == ScanKeep::kSelectKind) v = {};
    Set(*slot, v);
    return true;
  }

  std::string_view text_;
  const ScanRule& root_;
  Duplicates duplicates_;
  json::storage_ptr storage_;
  boost::container::small_vector<Frame, 8> frames_;
  std::string_view key_;               // the last key read
  std::string escaped_key_;            // ...if the walk rewrote it
  const ScanRule* pending_ = nullptr;  // the rule for the value after key_
  bool blank_next_ = false;            // the next value, if a string, is kept empty: not unescaped
  size_t skip_ = 0;                    // depth inside a container that is not built
  bool shape_ = false;                 // ...which is kept as an empty one
  bool at_root_ = true;
  json::value result_;
  std::string duplicate_;
};

size_t SkipSpace(std::string_view text, size_t i) {
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  return i;
}

// `i` at a string's opening quote; returns the index past its closing quote.
size_t SkipString(std::string_view text, size_t i) {
  for (++i; i < text.size(); ++i) {
    if (text[i] == '\\')
      ++i;
    else if (text[i] == '"')
      return i + 1;
  }
  return text.size();
}

// `i` at a value's first byte; returns the index past it.
size_t SkipValue(std::string_view text, size_t i) {
  if (i >= text.size()) return i;
  char c = text[i];
  if (c == '"') return SkipString(text, i);
  if (c == '{' || c == '[') {
    size_t depth = 0;
    while (i < text.size()) {
      c = text[i];
      if (c == '"') {
        i = SkipString(text, i);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if ((c == '}' || c == ']') && --depth == 0) return i + 1;
      ++i;
    }
    return i;
  }
  while (i < text.size() && text[i] != ',' && text[i] != '}' && text[i] != ']' && text[i] != ' ' && text[i] != '\t' &&
         text[i] != '\n' && text[i] != '\r')
    ++i;
  return i;
}

// Index of the closing brace of the object at `object_begin`.
size_t ObjectEnd(std::string_view text, size_t object_begin) { return SkipValue(text, object_begin) - 1; }

}  // namespace

ScanResult ScanJson(std::string_view text, const ScanRule& root, Duplicates duplicates, json::storage_ptr storage) {
  // Built in `storage` from the start: assigning a value into one of another storage copies it.
  ScanResult out{false, {}, json::value(storage)};
  KeepHandler keep(text, root, duplicates, std::move(storage));
  bool walked = WalkJson(text, keep);
  out.duplicate = keep.Duplicate();
  if (!walked) return out;
  out.valid = true;
  out.value = std::move(keep.Result());
  return out;
}

std::vector<JsonMember> ObjectMembers(std::string_view text, size_t object_begin) {
  std::vector<JsonMember> out;
  size_t i = SkipSpace(text, object_begin + 1);
  while (i < text.size() && text[i] == '"') {
    size_t name_end = SkipString(text, i);
    JsonMember m;
    m.raw_name = text.substr(i + 1, name_end - i - 2);
    i = SkipSpace(text, SkipSpace(text, name_end) + 1);  // past the ':'
    m.value_begin = i;
    m.value_end = i = SkipValue(text, i);
    out.push_back(m);
    i = SkipSpace(text, i);
    if (i < text.size() && text[i] == ',') i = SkipSpace(text, i + 1);
  }
  return out;
}

std::vector<std::pair<size_t, size_t>> ArrayElements(std::string_view text, size_t array_begin) {
  std::vector<std::pair<size_t, size_t>> out;
  if (array_begin >= text.size() || text[array_begin] != '[') return out;  // not an array: no elements
  size_t i = SkipSpace(text, array_begin + 1);
  while (i < text.size() && text[i] != ']') {
    size_t end = SkipValue(text, i);
    if (end == i) break;  // not a value where one must be: the text is not JSON
    out.emplace_back(i, end);
    i = SkipSpace(text, end);
    if (i < text.size() && text[i] == ',') i = SkipSpace(text, i + 1);
  }
  return out;
}

std::string MemberName(const JsonMember& member) {
  if (member.raw_name.find('\\') == std::string_view::npos) return std::string(member.raw_name);
  boost::system::error_code ec;
  json::value v = json::parse("\"" + std::string(member.raw_name) + "\"", ec);
  return ec || !v.is_string() ? std::string() : std::string(v.get_string());
}

size_t FirstValue(std::string_view text) { return SkipSpace(text, 0); }

void TextEdits::SetMember(std::string_view text, size_t object_begin, std::string_view name, std::string_view value,
                          bool absent) {
  if (!absent)
    for (const JsonMember& m : ObjectMembers(text, object_begin))
      if (MemberName(m) == name) {
        Replace(m.value_begin, m.value_end, std::string(value));
        return;
      }
  // The whole text's object ends at its last byte that is not space: no need to scan for it.
  size_t close = object_begin == FirstValue(text) ? text.find_last_not_of(" \t\r\n") : ObjectEnd(text, object_begin);
  size_t last = close;
  while (last > object_begin &&
         (text[last - 1] == ' ' || text[last - 1] == '\t' || text[last - 1] == '\n' || text[last - 1] == '\r'))
    --last;
  bool empty = last == object_begin + 1 && std::none_of(edits_.begin(), edits_.end(), [&](const Edit& e) {
                 return e.begin == last && e.end == last;
               });
  // The broker's own names need no escape (the usual case: written as they are).
  bool plain =
      std::none_of(name.begin(), name.end(), [](unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; });
  std::string member;
  member.reserve(name.size() + value.size() + 4);
  if (!empty) member += ',';
  if (plain)
    member.append(1, '"').append(name).append(1, '"');
  else
    member += json::serialize(json::string(name));
  member += ':';
  member += value;
  Insert(last, std::move(member));
}

std::string TextEdits::Apply(std::string_view text) const {
  // Usually one edit, or edits made in the order of the text: sorted (a copy) only when not.
  auto before = [](const Edit& a, const Edit& b) { return a.begin < b.begin; };
  if (!std::is_sorted(edits_.begin(), edits_.end(), before)) {
    TextEdits sorted = *this;
    std::stable_sort(sorted.edits_.begin(), sorted.edits_.end(), before);
    return sorted.Apply(text);
  }
  std::string out;
  size_t extra = 0;
  for (const Edit& e : edits_) extra += e.text.size();
  out.reserve(text.size() + extra);
  size_t at = 0;
  for (const Edit& e : edits_) {
    if (e.begin > at) out.append(text.substr(at, e.begin - at));
    out += e.text;
    at = std::max(at, e.end);
  }
  out.append(text.substr(at));
  return out;
}

}  // namespace ap::proxy
