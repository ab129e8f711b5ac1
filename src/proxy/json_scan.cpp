#include "proxy/json_scan.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

namespace ap::proxy {
namespace json = boost::json;
namespace {

// Builds only the kept parts of the value; a dropped container is counted through, not built.
class KeepHandler {
 public:
  static constexpr size_t max_array_size = static_cast<size_t>(-1);
  static constexpr size_t max_object_size = static_cast<size_t>(-1);
  static constexpr size_t max_string_size = static_cast<size_t>(-1);
  static constexpr size_t max_key_size = static_cast<size_t>(-1);

  KeepHandler(const ScanRule& root, Duplicates duplicates, json::storage_ptr storage)
      : root_(root), duplicates_(duplicates), storage_(std::move(storage)) {}

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }

  bool on_object_begin(boost::system::error_code&) {
    Begin(true);
    return true;
  }
  bool on_array_begin(boost::system::error_code&) {
    Begin(false);
    return true;
  }
  bool on_object_end(size_t n, boost::system::error_code& ec) { return End(true, n, ec); }
  bool on_array_end(size_t n, boost::system::error_code& ec) { return End(false, n, ec); }

  bool on_key_part(json::string_view s, size_t, boost::system::error_code&) {
    AddKeyPart(s);
    return true;
  }
  bool on_key(json::string_view s, size_t, boost::system::error_code&) {
    AddKeyPart(s);
    if (skip_ > 0) return true;
    Frame& f = frames_.back();
    f.key_open = false;
    f.pending = nullptr;
    if (f.rule->keep == ScanKeep::kAll) {
      f.pending = f.rule;
      return true;
    }
    for (const ScanMember& m : f.rule->members)
      if (m.name == std::string_view(f.key)) {
        f.pending = m.rule;
        return true;
      }
    f.pending = f.rule->other_members;
    return true;
  }

  bool on_string_part(json::string_view s, size_t, boost::system::error_code&) {
    if (Kept()) string_.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, size_t, boost::system::error_code& ec) {
    if (!Kept()) return true;
    string_.append(s.data(), s.size());
    json::value v(json::string(string_, storage_));
    string_.clear();
    return Attach(std::move(v), ec);
  }
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(int64_t i, json::string_view, boost::system::error_code& ec) { return Scalar(json::value(i, storage_), ec); }
  bool on_uint64(uint64_t u, json::string_view, boost::system::error_code& ec) { return Scalar(json::value(u, storage_), ec); }
  bool on_double(double d, json::string_view, boost::system::error_code& ec) { return Scalar(json::value(d, storage_), ec); }
  bool on_bool(bool b, boost::system::error_code& ec) { return Scalar(json::value(b, storage_), ec); }
  bool on_null(boost::system::error_code& ec) { return Scalar(json::value(nullptr, storage_), ec); }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }

  json::value& Result() { return result_; }
  const std::string& Duplicate() const { return duplicate_; }

 private:
  struct Frame {
    const ScanRule* rule = nullptr;
    json::value value;
    std::string key;
    bool key_open = false;
    const ScanRule* pending = nullptr;  // the rule for the value after `key`
  };

  // The rule for the next value, or null when it is dropped.
  const ScanRule* Next() const {
    if (skip_ > 0) return nullptr;
    if (frames_.empty()) return at_root_ ? &root_ : nullptr;
    const Frame& f = frames_.back();
    if (f.value.is_object()) return f.pending;
    return f.rule->keep == ScanKeep::kAll ? f.rule : f.rule->elements;
  }
  bool Kept() const { return Next() != nullptr; }

  void AddKeyPart(json::string_view s) {
    if (skip_ > 0) return;
    Frame& f = frames_.back();
    if (!f.key_open) {
      f.key.clear();
      f.key_open = true;
    }
    f.key.append(s.data(), s.size());
  }

  void Begin(bool object) {
    if (skip_ > 0) {
      ++skip_;
      return;
    }
    const ScanRule* rule = Next();
    if (!rule || rule->keep == ScanKeep::kShape) {
      skip_ = 1;
      shape_ = rule != nullptr;
      return;
    }
    Frame& f = frames_.emplace_back();
    f.rule = rule;
    f.value = object ? json::value(json::object(storage_)) : json::value(json::array(storage_));
  }

  bool End(bool object, size_t n, boost::system::error_code& ec) {
    if (skip_ > 0) {
      if (--skip_ > 0 || !shape_) return true;
      shape_ = false;
      if (object) return Attach(json::value(json::object(storage_)), ec);
      json::array a(storage_);
      if (n > 0) a.emplace_back(nullptr);
      return Attach(json::value(std::move(a)), ec);
    }
    json::value v = std::move(frames_.back().value);
    frames_.pop_back();
    return Attach(std::move(v), ec);
  }

  bool Scalar(json::value v, boost::system::error_code& ec) {
    if (!Kept()) return true;
    return Attach(std::move(v), ec);
  }

  bool Attach(json::value v, boost::system::error_code& ec) {
    if (frames_.empty()) {
      result_ = std::move(v);
      at_root_ = false;
      return true;
    }
    Frame& f = frames_.back();
    if (f.value.is_array()) {
      f.value.get_array().push_back(std::move(v));
      return true;
    }
    json::object& o = f.value.get_object();
    if (duplicates_ == Duplicates::kRefuse && o.contains(f.key)) {
      duplicate_ = f.key;
      ec = make_error_code(boost::system::errc::invalid_argument);
      return false;
    }
    o.insert_or_assign(f.key, std::move(v));
    return true;
  }

  const ScanRule& root_;
  Duplicates duplicates_;
  json::storage_ptr storage_;
  std::vector<Frame> frames_;
  std::string string_;
  size_t skip_ = 0;    // depth inside a container that is not built
  bool shape_ = false;  // ...which is kept as an empty one
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
  ScanResult out;
  json::basic_parser<KeepHandler> parser(json::parse_options{}, root, duplicates, storage);
  boost::system::error_code ec;
  size_t used = parser.write_some(false, text.data(), text.size(), ec);
  out.duplicate = parser.handler().Duplicate();
  if (ec || used != text.size()) return out;
  out.valid = true;
  out.value = std::move(parser.handler().Result());
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
  size_t i = SkipSpace(text, array_begin + 1);
  while (i < text.size() && text[i] != ']') {
    size_t end = SkipValue(text, i);
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
  while (last > object_begin && (text[last - 1] == ' ' || text[last - 1] == '\t' || text[last - 1] == '\n' ||
                                 text[last - 1] == '\r'))
    --last;
  bool empty = last == object_begin + 1 &&
               std::none_of(edits_.begin(), edits_.end(), [&](const Edit& e) { return e.begin == last && e.end == last; });
  std::string member = empty ? "" : ",";
  member += json::serialize(json::string(name));
  member += ':';
  member += value;
  Insert(last, std::move(member));
}

std::string TextEdits::Apply(std::string_view text) const {
  std::vector<const Edit*> order;
  order.reserve(edits_.size());
  for (const Edit& e : edits_) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Edit* a, const Edit* b) { return a->begin < b->begin; });
  std::string out;
  size_t extra = 0;
  for (const Edit* e : order) extra += e->text.size();
  out.reserve(text.size() + extra);
  size_t at = 0;
  for (const Edit* e : order) {
    if (e->begin > at) out.append(text.substr(at, e->begin - at));
    out += e->text;
    at = std::max(at, e->end);
  }
  out.append(text.substr(at));
  return out;
}

}  // namespace ap::proxy
