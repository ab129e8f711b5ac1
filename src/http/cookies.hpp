#pragma once
// Cookies (RFC 6265) and HTML forms (application/x-www-form-urlencoded), for the owner's pages.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.hpp"

namespace ap::http {

// The value of cookie `name` in the request's Cookie header(s); none if it comes twice with two
// values. A browser sends every cookie of that name whose path and domain match, the longest path
// first, and cookies ignore ports and (over HTTP) who set them: another site on the same host may
// plant its own session for one path (`Path=/keys`), and whichever came first would sign the
// owner in there as someone else.
std::optional<std::string> CookieValue(const Request& request, std::string_view name);
// Whether cookie `name` comes twice with two values (CookieValue then says none).
bool CookieConflicts(const Request& request, std::string_view name);

struct CookieOptions {
  bool secure = false;
  bool http_only = true;
  std::string_view same_site = "Lax";
  std::optional<long> max_age_seconds;  // none: a browser-session cookie; 0: delete it
};
// A Set-Cookie value with Path=/ (and no Domain, so `__Host-` names are valid when secure).
std::string SetCookie(std::string_view name, std::string_view value, const CookieOptions& options);

// The fields of a urlencoded body, in order (checkboxes repeat a name). Nullopt if malformed, or if
// it holds more than kMaxFormFields: our longest form (consent: 100 models, each a checkbox) holds
// fewer, and a 1 MiB body of '&' would otherwise be a million entries (some 100 MB and most of a
// second of an I/O thread) before anything checked who sent it.
using Form = std::multimap<std::string, std::string>;
constexpr size_t kMaxFormFields = 512;
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
