// A grant's scope and limits as the reference's JSON: a grant request's `scope`, an owner's change
// of limits (merged into a granted scope as PATCH /grants/{id}/limits does), and the stored form.
// Whatever is accepted must read back the same from its own JSON.

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "domain/scope.hpp"
#include "fuzz_input.hpp"

namespace {

using namespace ap;

void RoundTrip(const domain::Scope& scope, domain::ScopeBy by) {
  auto again = domain::ParseScope(domain::ScopeToJson(scope), "scope", {scope.provider}, by);
  if (!again) fuzz::Broken("a parsed scope parses again from its JSON");
  if (again->models != scope.models || again->capabilities != scope.capabilities ||
      again->max_budget_cents != scope.max_budget_cents || again->max_requests != scope.max_requests ||
      again->rate_limit != scope.rate_limit || again->max_tokens_per_minute != scope.max_tokens_per_minute ||
      again->max_concurrent != scope.max_concurrent)
    fuzz::Broken("a scope's JSON keeps every limit");
  for (const auto& model : scope.models) {
    if (!domain::IsModelPattern(model)) fuzz::Broken("an accepted model entry is a model pattern");
    (void)scope.AllowsModel(model);
    (void)scope.AllowsModel("gpt-4o-mini-2024-07-18");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<std::string> providers = {"openai", "anthropic", "google", "ollama"};
  std::string_view input = fuzz::Text(data, size);
  if (auto stored = domain::ParseScopeText(input)) RoundTrip(*stored, domain::ScopeBy::kOwner);
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(input, ec);
  if (ec) return 0;
  if (auto scope = domain::ParseScope(value, "scope", providers)) RoundTrip(*scope, domain::ScopeBy::kApp);
  if (value.is_object()) {
    boost::json::object granted{{"provider", "openai"},
                                {"models", boost::json::array{"gpt-4o*"}},
                                {"capabilities", boost::json::array{"chat"}},
                                {"maxBudgetCents", 500}};
    for (const auto& [key, limit] : value.get_object()) {
      if (limit.is_null())
        granted.erase(key);
      else
        granted[key] = limit;
    }
    if (auto limits = domain::ParseScope(granted, "scope", {"openai"}, domain::ScopeBy::kOwner))
      RoundTrip(*limits, domain::ScopeBy::kOwner);
  }
  return 0;
}
