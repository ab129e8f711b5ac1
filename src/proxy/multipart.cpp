#include "proxy/multipart.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

#include "proxy/request_limits.hpp"

namespace ap::proxy {
namespace {

constexpr size_t kMaxHeaders = 8 << 10;
constexpr size_t kMaxField = 1 << 10;
constexpr size_t kMaxBoundary = 70;

Error Malformed(std::string why) { return MakeError(Errc::kBadRequest, "Malformed multipart/form-data body: " + why); }

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool IsWhite(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimWhite(std::string_view s) {
  while (!s.empty() && IsWhite(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsWhite(s.back())) s.remove_suffix(1);
  return s;
}

// tchar of RFC 9110 section 5.6.2.
bool IsTokenChar(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// bchars of RFC 2046 section 5.1.1.
bool IsBoundaryChar(unsigned char c) {
  return std::isalnum(c) || std::string_view("'()+_,-./:=? ").find(static_cast<char>(c)) != std::string_view::npos;
}

struct Parameter {
  std::string name;  // lower case: parameter names are case-insensitive
  std::string value;
};

// The parameters after a media type or disposition type: `*( OWS ";" OWS [ token "=" ( token /
// quoted-string ) ] )` (RFC 9110 section 5.6.6). Refused as ambiguous, because readers disagree on
// them: a name given twice, RFC 2231 forms (`name*`, `name*0`), and a quoted value holding a
// backslash (unescaped by some readers, kept by others) or a ';' (which naive readers split on).
Result<std::vector<Parameter>> ParseParameters(std::string_view s, std::string_view header) {
  auto bad = [&](std::string why) { return Malformed("the " + std::string(header) + " header " + why); };
  std::vector<Parameter> out;
  size_t i = 0;
  auto skip_white = [&] {
    while (i < s.size() && IsWhite(s[i])) ++i;
  };
  for (;;) {
    skip_white();
    if (i == s.size()) return out;
    if (s[i] != ';') return bad("has text that is not a parameter");
    ++i;
    skip_white();
    if (i == s.size() || s[i] == ';') continue;
    size_t start = i;
    while (i < s.size() && IsTokenChar(s[i])) ++i;
    if (i == start || i == s.size() || s[i] != '=') return bad("has a parameter that is not name=value");
    Parameter p{Lower(s.substr(start, i - start)), {}};
    ++i;
    if (i < s.size() && s[i] == '"') {
      for (++i;; ++i) {
        if (i == s.size()) return bad("has an unterminated quoted string");
        unsigned char c = s[i];
        if (c == '"') break;
        if (c == '\\' || c == ';') return bad("has a quoted value with '\\' or ';', which readers interpret differently");
        if ((c < 0x20 && c != '\t') || c == 0x7f) return bad("has a control character");
        p.value += static_cast<char>(c);
      }
      ++i;
    } else {
      start = i;
      while (i < s.size() && IsTokenChar(s[i])) ++i;
      if (i == start) return bad("has a parameter without a value");
      p.value = s.substr(start, i - start);
    }
    if (p.name.find('*') != std::string::npos) return bad("has an RFC 2231 encoded parameter '" + p.name + "'");
    for (const Parameter& seen : out)
      if (seen.name == p.name) return bad("names the parameter '" + p.name + "' twice");
    out.push_back(std::move(p));
  }
}

const std::string* Find(const std::vector<Parameter>& params, std::string_view name) {
  for (const Parameter& p : params)
    if (p.name == name) return &p.value;
  return nullptr;
}

}  // namespace

Result<std::string> MultipartBoundary(std::string_view content_type) {
  size_t semi = content_type.find(';');
  if (Lower(TrimWhite(content_type.substr(0, semi))) != "multipart/form-data")
    return MakeError(Errc::kBadRequest, "Expected a multipart/form-data body");
  auto params = ParseParameters(semi == std::string_view::npos ? "" : content_type.substr(semi), "Content-Type");
  if (!params) return params.error();
  const std::string* boundary = Find(*params, "boundary");
  if (!boundary || boundary->empty() || boundary->size() > kMaxBoundary || boundary->back() == ' ' ||
      !std::all_of(boundary->begin(), boundary->end(), IsBoundaryChar))
    return MakeError(Errc::kBadRequest,
                     "The multipart/form-data body has no valid boundary (RFC 2046: 1 to 70 characters of "
                     "letters, digits and '()+_,-./:=? , not ending with a space)");
  return *boundary;
}

MultipartField::MultipartField(std::string boundary, std::string name)
    : delimiter_("\r\n--" + std::move(boundary)), name_(std::move(name)), carry_("\r\n") {}

MultipartField MultipartField::FileHead(std::string boundary, std::string name, size_t head_bytes) {
  MultipartField field(std::move(boundary), std::move(name));
  field.head_bytes_ = head_bytes;
  return field;
}

Status MultipartField::Feed(std::string_view bytes) {
  carry_.append(bytes);
  std::string_view rest = carry_;
  Status status = Parse(rest);
  carry_.erase(0, carry_.size() - rest.size());
  return status;
}

// Consumes from `rest` what it could deal with; what is left waits for more bytes.
Status MultipartField::Parse(std::string_view& rest) {
  for (;;) {
    if (state_ == State::kDone) {
      for (char c : rest)  // clients end with "--boundary--" and at most a CRLF
        if (epilogue_ >= 2 || c != "\r\n"[epilogue_++]) return Malformed("nothing may follow the closing boundary");
      rest = {};
      return {};
    }
    if (state_ == State::kHeaders) {
      size_t end = rest.starts_with("\r\n") ? 0 : rest.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (rest.size() > kMaxHeaders) return Malformed("a part has too many headers");
        return {};
      }
      if (auto status = OnHeaders(rest.substr(0, end)); !status) return status;
      rest.remove_prefix(end == 0 ? 2 : end + 4);
      state_ = State::kBody;
      continue;
    }
    size_t at = rest.find(delimiter_);
    if (state_ == State::kPreamble && at != 0) {
      if (at == std::string_view::npos && std::string_view(delimiter_).starts_with(rest)) return {};
      return Malformed("the body must start with its boundary");
    }
    if (at == std::string_view::npos) {  // keep what could be the start of a delimiter
      size_t body = rest.size() - std::min(rest.size(), delimiter_.size() - 1);
      Status status = OnBody(rest.substr(0, body), false);
      rest.remove_prefix(body);
      return status;
    }
    if (auto status = OnBody(rest.substr(0, at), false); !status) return status;
    rest.remove_prefix(at);
    if (rest.size() < delimiter_.size() + 2) return {};
    // Strict on purpose: some readers take "--boundary \r\n" or "--boundary\n" as a delimiter, others not.
    std::string_view after = rest.substr(delimiter_.size(), 2);
    if (after != "--" && after != "\r\n") return Malformed("a boundary must be followed by CRLF or '--'");
    if (auto status = OnBody({}, true); !status) return status;
    rest.remove_prefix(delimiter_.size() + 2);
    state_ = after == "--" ? State::kDone : State::kHeaders;
  }
}

Status MultipartField::Finish() const {
  if (state_ != State::kDone) return Malformed("it ended before its closing boundary");
  return {};
}

Status MultipartField::OnHeaders(std::string_view headers) {
  std::optional<std::string> name;
  bool disposition = false;
  while (!headers.empty()) {
    size_t eol = headers.find("\r\n");
    std::string_view line = headers.substr(0, eol);
    headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
    if (std::any_of(line.begin(), line.end(), [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }))
      return Malformed("a part header has a control character (bare CR or LF?)");
    if (line.empty() || IsWhite(line.front())) return Malformed("a part header is folded or empty");
    size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    if (colon == std::string_view::npos || !std::all_of(field.begin(), field.end(), IsTokenChar))
      return Malformed("a part header is not 'Name: value'");
    std::string_view value = TrimWhite(line.substr(colon + 1));
    std::string lower = Lower(field);
    if (lower == "content-transfer-encoding") {
      std::string encoding = Lower(value);
      if (encoding != "7bit" && encoding != "8bit" && encoding != "binary")
        return Malformed("a part has Content-Transfer-Encoding " + std::string(value));
    }
    if (lower != "content-disposition") continue;
    if (disposition) return Malformed("a part has two Content-Disposition headers");
    disposition = true;
    size_t semi = value.find(';');
    if (Lower(TrimWhite(value.substr(0, semi))) != "form-data") return Malformed("a part is not form-data");
    auto params = ParseParameters(semi == std::string_view::npos ? "" : value.substr(semi), "Content-Disposition");
    if (!params) return params.error();
    for (const Parameter& p : *params)
      if (p.name != "name" && p.name != "filename")
        return Malformed("a part's Content-Disposition has the parameter '" + p.name + "' (only name and filename)");
    if (const std::string* n = Find(*params, "name")) name = *n;
  }
  if (!disposition) return Malformed("a part has no Content-Disposition");
  if (!name) return Malformed("a part has no name");
  if (!only_names_.empty() && std::find(only_names_.begin(), only_names_.end(), *name) == only_names_.end())
    return MakeError(Errc::kBadRequest, "The field " + QuotedName(*name) +
                                            " is not one of OpenAI's API as written, and this provider is sent only "
                                            "those (the operator may allow more with extra_members)");
  capturing_ = *name == name_;
  if (capturing_ && value_) return MakeError(Errc::kBadRequest, "The field '" + name_ + "' appears more than once");
  capture_.clear();
  return {};
}

Status MultipartField::OnBody(std::string_view bytes, bool part_ended) {
  if (!capturing_) return {};
  if (head_bytes_ > 0) {
    capture_.append(bytes.substr(0, head_bytes_ - capture_.size()));
  } else {
    if (capture_.size() + bytes.size() > kMaxField)
      return MakeError(Errc::kBadRequest, "The field '" + name_ + "' is too long");
    capture_.append(bytes);
  }
  if (part_ended || (head_bytes_ > 0 && capture_.size() == head_bytes_)) {
    value_ = std::move(capture_);
    capturing_ = false;
  }
  return {};
}

}  // namespace ap::proxy
