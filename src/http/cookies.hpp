#pragma once
// Cookies (RFC 6265) and HTML forms (application/x-www-form-urlencoded), for the owner's pages.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// The fields of a urlencoded body, in order (checkboxes repeat a name). Nullopt if malformed.
using Form = std::multimap<std::string, std::string>;
std::optional<Form> ParseForm(std::string_view body);
// The first value of `name`, or "".
std::string FormValue(const Form& form, const std::string& name);
// Every value of `name`, in order.
std::vector<std::string> FormValues(const Form& form, const std::string& name);
// The fields of a request target's query string ("/x?a=1&b=2"); empty without one.
std::optional<Form> QueryForm(std::string_view target);
// The first value of `name` in a request target's query string, or "".
std::string QueryValue(std::string_view target, const std::string& name);

}  // namespace ap::http
