// Cookies, urlencoded forms and query strings from the owner's browser, and the query string the
// broker forwards to a provider.

#include <string>

#include "fuzz_input.hpp"
#include "http/cookies.hpp"
#include "proxy/endpoints.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ap;
  std::string_view input = fuzz::Text(data, size);
  auto [first, second] = fuzz::Cut(input);

  http::Request request;
  request.insert(http::bhttp::field::cookie, first);
  if (!second.empty()) request.insert(http::bhttp::field::cookie, second);
  (void)http::CookieValue(request, "__Host-aipassport_session");
  (void)http::CookieValue(request, "csrf");

  if (auto form = http::ParseForm(input)) {
    (void)http::FormValue(*form, "csrf");
    (void)http::FormValues(*form, "capabilities");
  }
  (void)http::QueryForm(input);
  (void)http::QueryValue(input, "code");
  if (auto query = proxy::ForwardedQuery(input); query && !query->empty() && (*query)[0] != '?')
    fuzz::Broken("a forwarded query starts with '?'");
  return 0;
}
