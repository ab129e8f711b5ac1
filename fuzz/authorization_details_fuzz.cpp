// What an app asks for in an OAuth request: "<authorization_details>\n<scope>". Whatever is
// accepted must come back out as granted details and as a stored scope the broker reads again.

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "domain/scope.hpp"
#include "fuzz_input.hpp"
#include "oauth/authorization_details.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ap;
  static const std::vector<std::string> providers = {"openai", "anthropic", "google", "ollama"};
  std::string_view input = fuzz::Text(data, size);
  auto [details, scope] = fuzz::Cut(input);
  auto check = [](const Result<oauth::AccessRequest>& asked) {
    if (!asked) return;
    if (asked->lifetime_seconds <= 0 || asked->lifetime_seconds > oauth::kMaxLifetimeSeconds)
      fuzz::Broken("an accepted lifetime is within bounds");
    (void)boost::json::serialize(oauth::GrantedDetails(asked->scope, asked->lifetime_seconds));
    auto stored = domain::ParseScopeText(domain::ScopeToJsonText(asked->scope));
    if (!stored) fuzz::Broken("an accepted scope is read back from the store");
    if (stored->models != asked->scope.models || stored->capabilities != asked->scope.capabilities)
      fuzz::Broken("a stored scope is the scope granted");
  };
  if (auto asked = oauth::ParseAccessRequest(details, scope, providers)) check(*asked);
  check(oauth::ParseAuthorizationDetails(input, providers));
  check(oauth::ParseScopeShorthand(input, providers));
  return 0;
}
