#pragma once
// Cookies (RFC 6265) and HTML forms (application/x-www-form-urlencoded), for the owner's pages.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.hpp"

namespace ap::http {

// The value of cookie `name` in the request's Cookie header(s).
std::optional<std::string> CookieValue(const Request& request, std::string_view name);

struct CookieOptions {
  bool secure = false;
  bool http_only = true;
  std::string_view same_site = "Lax";
  std::optional<long> max_age_seconds;  // none: a browser-session cookie; 0: delete it
};
// A Set-Cookie value with Path=/ (and no Domain, so `__Host-` names are valid when secure).
std::string SetCookie(std::string_view name, std::string_view value, const CookieOptions& options);

// The fields of a urlencoded body; a field given twice keeps its first value. Nullopt if malformed.
std::optional<std::map<std::string, std::string>> ParseForm(std::string_view body);

}  // namespace ap::http
