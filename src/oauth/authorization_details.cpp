#include "oauth/authorization_details.hpp"

#include <boost/json.hpp>

namespace ap::oauth {
namespace json = boost::json;

namespace {

Error Invalid(std::string why) { return MakeError(Errc::kBadRequest, std::move(why)); }

// Maps ai_access field names onto the reference scope's, so one validator checks both.
constexpr std::pair<std::string_view, std::string_view> kScopeFields[] = {
    {"provider", "provider"},         {"models", "models"},
    {"capabilities", "capabilities"}, {"max_budget_cents", "maxBudgetCents"},
    {"max_requests", "maxRequests"},  {"rate_limit", "rateLimit"},
    {"max_tokens_per_minute", "maxTokensPerMinute"}, {"max_concurrent", "maxConcurrent"}};

std::string FirstProblem(const Error& e) {
  if (e.field_errors.empty()) return e.message;
  std::string field = e.field_errors.front().field;
  for (auto [ours, theirs] : kScopeFields)
    if (field == "authorization_details." + std::string(theirs)) field = "authorization_details." + std::string(ours);
  return field + ": " + e.field_errors.front().message;
}

}  // namespace

Result<AccessRequest> ParseAuthorizationDetails(std::string_view json_text, const std::vector<std::string>& providers) {
  boost::system::error_code ec;
  json::value value = json::parse(json_text, ec);
  if (ec) return Invalid("authorization_details is not JSON");
  if (!value.is_array() || value.get_array().empty()) return Invalid("authorization_details must be a non-empty array");
  if (value.get_array().size() > 1) return Invalid("one ai_access item per request (one provider per grant)");
  const json::value& item = value.get_array().front();
  if (!item.is_object()) return Invalid("each authorization_details item must be an object");
  const json::object& o = item.get_object();
  const json::value* type = o.if_contains("type");
  if (!type || !type->is_string()) return Invalid("authorization_details: type is required");
  if (type->get_string() != "ai_access")
    return Invalid("authorization_details: unknown type '" + std::string(type->get_string()) + "'; expected ai_access");
  AccessRequest request;
  json::object scope_json;
  for (const auto& [key, v] : o) {
    if (key == "type") continue;
    if (key == "lifetime_seconds") {
      if (!v.is_int64() || v.get_int64() < 60 || v.get_int64() > kMaxLifetimeSeconds)
        return Invalid("authorization_details: lifetime_seconds must be a whole number from 60 to " +
                       std::to_string(kMaxLifetimeSeconds));
      request.lifetime_seconds = v.get_int64();
      continue;
    }
    if (key == "reason") {
      if (!v.is_string() || v.get_string().size() > 2000)
        return Invalid("authorization_details: reason must be a string of at most 2000 characters");
      request.reason = v.get_string();
      continue;
    }
    bool known = false;
    for (auto [ours, theirs] : kScopeFields)
      if (key == ours) {
        scope_json[theirs] = v;
        known = true;
      }
    if (!known) return Invalid("authorization_details: unknown field '" + std::string(key) + "'");
  }
  if (!scope_json.contains("models")) scope_json["models"] = json::array();  // none named: any model
  auto scope = domain::ParseScope(scope_json, "authorization_details", providers);
  if (!scope) return Invalid(FirstProblem(scope.error()));
  if (scope->capabilities.empty()) return Invalid("authorization_details: capabilities must name at least one");
  request.scope = std::move(*scope);
  return request;
}

Result<AccessRequest> ParseScopeShorthand(std::string_view scope, const std::vector<std::string>& providers) {
  json::object scope_json{{"models", json::array()}};
  json::array capabilities;
  std::string provider;
  while (!scope.empty()) {
    size_t space = scope.find(' ');
    std::string_view item = scope.substr(0, space);
    scope = space == std::string_view::npos ? std::string_view() : scope.substr(space + 1);
    if (item.empty()) continue;
    size_t colon = item.find(':');
    if (colon == std::string_view::npos)
      return Invalid("scope items look like openai:chat, not '" + std::string(item) + "'");
    std::string p(item.substr(0, colon));
    if (!provider.empty() && p != provider) return Invalid("one provider per request");
    provider = p;
    capabilities.emplace_back(item.substr(colon + 1));
  }
  if (provider.empty()) return Invalid("scope names nothing: ask for example for openai:chat");
  scope_json["provider"] = provider;
  scope_json["capabilities"] = std::move(capabilities);
  auto parsed = domain::ParseScope(scope_json, "scope", providers);
  if (!parsed) return Invalid(FirstProblem(parsed.error()));
  return AccessRequest{std::move(*parsed), kDefaultLifetimeSeconds, ""};
}

std::optional<Result<AccessRequest>> ParseAccessRequest(std::string_view details, std::string_view scope,
                                                        const std::vector<std::string>& providers) {
  if (!details.empty()) return ParseAuthorizationDetails(details, providers);
  if (!scope.empty()) return ParseScopeShorthand(scope, providers);
  return std::nullopt;
}

json::array GrantedDetails(const domain::Scope& scope, int64_t lifetime_seconds) {
  json::object item{{"type", "ai_access"},
                    {"provider", scope.provider},
                    {"models", json::array(scope.models.begin(), scope.models.end())},
                    {"capabilities", json::array(scope.capabilities.begin(), scope.capabilities.end())},
                    {"lifetime_seconds", lifetime_seconds}};
  if (scope.max_budget_cents) item["max_budget_cents"] = *scope.max_budget_cents;
  if (scope.max_requests) item["max_requests"] = *scope.max_requests;
  if (scope.rate_limit) item["rate_limit"] = *scope.rate_limit;
  if (scope.max_tokens_per_minute) item["max_tokens_per_minute"] = *scope.max_tokens_per_minute;
  if (scope.max_concurrent) item["max_concurrent"] = *scope.max_concurrent;
  return json::array{std::move(item)};
}

}  // namespace ap::oauth
