#include "http/cookies.hpp"

#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>

namespace ap::http {

namespace {

struct Cookie {
  std::optional<std::string_view> value;
  bool conflicts = false;
};

Cookie FindCookie(const Request& request, std::string_view name) {
  Cookie found;
  for (auto it = request.find(bhttp::field::cookie); it != request.end() && it->name() == bhttp::field::cookie; ++it) {
    std::string_view header = it->value();
    while (!header.empty()) {
      size_t semi = header.find(';');
      std::string_view pair = header.substr(0, semi);
      header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      size_t eq = pair.find('=');
      if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
      std::string_view value = pair.substr(eq + 1);
      if (found.value && *found.value != value) return Cookie{std::nullopt, true};
      found.value = value;
    }
  }
  return found;
}

}  // namespace

std::optional<std::string> CookieValue(const Request& request, std::string_view name) {
  Cookie found = FindCookie(request, name);
  if (!found.value) return std::nullopt;
  return std::string(*found.value);
}

bool CookieConflicts(const Request& request, std::string_view name) { return FindCookie(request, name).conflicts; }

std::string SetCookie(std::string_view name, std::string_view value, const CookieOptions& options) {
  std::string out = std::string(name) + "=" + std::string(value) + "; Path=/";
  if (options.max_age_seconds) out += "; Max-Age=" + std::to_string(*options.max_age_seconds);
  if (options.secure) out += "; Secure";
  if (options.http_only) out += "; HttpOnly";
  out += "; SameSite=" + std::string(options.same_site);
  return out;
}

std::optional<Form> ParseForm(std::string_view body) {
  // A NUL-terminated copy: Boost.URL 1.81's parse_query, as Debian builds it, reads its input up
  // to a NUL whatever length it is given (AddressSanitizer caught it reading past a view's end).
  std::string text(body);
  if (!boost::urls::parse_query(text)) return std::nullopt;
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;  // forms encode spaces as '+'
  boost::urls::params_view params(text, opts);
  if (params.size() > kMaxFormFields) return std::nullopt;
  Form fields;
  for (auto param : params) fields.emplace(param.key, param.value);
  return fields;
}

std::optional<Form> QueryForm(std::string_view target) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return Form();
  return ParseForm(target.substr(q + 1));
}

std::string QueryValue(std::string_view target, const std::string& name) {
  auto form = QueryForm(target);
  return form ? FormValue(*form, name) : std::string();
}

std::string FormValue(const Form& form, const std::string& name) {
  auto it = form.lower_bound(name);
  return it != form.end() && it->first == name ? it->second : std::string();
}

std::vector<std::string> FormValues(const Form& form, const std::string& name) {
  std::vector<std::string> values;
  for (auto [it, end] = form.equal_range(name); it != end; ++it) values.push_back(it->second);
  return values;
}

}  // namespace ap::http
