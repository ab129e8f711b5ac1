#include "api/paging.hpp"

#include <charconv>

#include "core/base64url.hpp"
#include "http/cookies.hpp"

namespace ap::api {
namespace {

Error Invalid(std::string field, std::string message) {
  return Error{Errc::kValidation, "Validation failed", {{std::move(field), std::move(message)}}};
}

std::optional<int64_t> WholeNumber(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The value of `name` in the target's query: nullopt when absent, an error when the query cannot be
// read at all (a broken escape), so that such a request is refused rather than given page one.
Result<std::optional<std::string>> QueryParam(std::string_view target, const std::string& name) {
  if (target.find('?') == std::string_view::npos) return std::optional<std::string>();
  auto query = http::QueryForm(target);
  if (!query) return Invalid(name, "The query string is not valid (a broken % escape?)");
  if (!query->contains(name)) return std::optional<std::string>();
  return std::optional<std::string>(http::FormValue(*query, name));
}

}  // namespace

Result<int64_t> PageLimit(std::string_view target, int64_t fallback, int64_t max) {
  auto text = QueryParam(target, "limit");
  if (!text) return text.error();
  if (!*text) return fallback;
  auto value = WholeNumber(**text);
  if (!value || *value < 1 || *value > max)
    return Invalid("limit", "Expected a whole number from 1 to " + std::to_string(max));
  return *value;
}

// The cursor is "<created_at>.<id>" in base64url: opaque to clients, so its form may change.
Result<std::optional<store::GrantCursor>> GrantCursorParam(std::string_view target, const std::string& name) {
  auto text = QueryParam(target, name);
  if (!text) return text.error();
  if (!*text) return std::optional<store::GrantCursor>();
  auto invalid = Invalid(name, "Expected the cursor of a previous page's Link: rel=\"next\"");
  auto decoded = Base64UrlDecode(**text);
  if (!decoded) return invalid;
  size_t dot = decoded->find('.');
  if (dot == std::string::npos || dot + 1 == decoded->size()) return invalid;
  auto created_at = WholeNumber(std::string_view(*decoded).substr(0, dot));
  if (!created_at) return invalid;
  return std::optional<store::GrantCursor>(store::GrantCursor{*created_at, decoded->substr(dot + 1)});
}

std::string GrantCursorText(const store::GrantRecord& last) {
  return GrantCursorText(store::GrantCursor{last.created_at, last.id});
}

std::string GrantCursorText(const store::GrantCursor& at) {
  return Base64UrlEncode(std::to_string(at.created_at) + "." + at.id);
}

std::string NextLink(std::string_view path, int64_t limit, std::string_view cursor) {
  return "<" + std::string(path) + "?limit=" + std::to_string(limit) + "&cursor=" + std::string(cursor) +
         ">; rel=\"next\"";
}

}  // namespace ap::api
