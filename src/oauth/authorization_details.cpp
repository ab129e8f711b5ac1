#include "oauth/authorization_details.hpp"

#include <algorithm>
#include <boost/json.hpp>

#include "core/words.hpp"

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
  std::optional<bool> may_delegate;
  for (const auto& [key, v] : o) {
    if (key == "type") continue;
    if (key == "may_delegate") {
      if (!v.is_bool()) return Invalid("authorization_details: may_delegate must be true or false");
      may_delegate = v.get_bool();
      continue;
    }
    if (key == "max_delegation_depth") {
      if (!v.is_int64() || v.get_int64() < 1 || v.get_int64() > domain::kMaxDelegationDepth)
        return Invalid("authorization_details: max_delegation_depth must be a whole number from 1 to " +
                       std::to_string(domain::kMaxDelegationDepth));
      scope_json["maxDelegationDepth"] = v;
      continue;
    }
    if (key == "lifetime_seconds") {
      if (!v.is_int64() || v.get_int64() < 60 || v.get_int64() > kMaxLifetimeSeconds)
        return Invalid("authorization_details: lifetime_seconds must be a whole number from 60 to " +
                       std::to_string(kMaxLifetimeSeconds));
      request.lifetime_seconds = v.get_int64();
      request.lifetime_named = true;
      continue;
    }
    if (key == "reason") {
      // A NUL would be stored on SQLite and refused by PostgreSQL (and by `db copy` to it).
      if (!v.is_string() || v.get_string().size() > 2000 || v.get_string().find('\0') != json::string::npos)
        return Invalid("authorization_details: reason must be a string of at most 2000 characters, without NUL");
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
  if (may_delegate.value_or(false) && !scope_json.contains("maxDelegationDepth")) scope_json["maxDelegationDepth"] = 1;
  if (!may_delegate.value_or(false) && scope_json.contains("maxDelegationDepth"))
    return Invalid("authorization_details: max_delegation_depth needs may_delegate: true");
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
  for (const std::string& item : SplitOnSpaces(scope)) {
    size_t colon = item.find(':');
    if (colon == std::string::npos) return Invalid("scope items look like openai:chat, not '" + item + "'");
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
  return AccessRequest{std::move(*parsed), kDefaultLifetimeSeconds, false, ""};
}

std::optional<Result<AccessRequest>> ParseAccessRequest(std::string_view details, std::string_view scope,
                                                        const std::vector<std::string>& providers) {
  if (!details.empty()) return ParseAuthorizationDetails(details, providers);
  if (!scope.empty()) return ParseScopeShorthand(scope, providers);
  return std::nullopt;
}

namespace {

// Whether every model `pattern` matches is one `granted` matches. A '*' of `pattern` taken as a
// letter must fall inside a run a '*' of `granted` stands for (model ids hold no '*'), so whatever
// it stands for, `granted` still matches.
bool PatternWithin(std::string_view pattern, std::string_view granted) {
  return domain::ModelMatches(granted, pattern);
}

// A limit asked for (`asked`, none: unlimited) that is looser than the one granted.
std::optional<std::string> Looser(std::string_view name, const std::optional<int64_t>& asked,
                                  const std::optional<int64_t>& granted) {
  if (!granted) return std::nullopt;
  if (!asked) return std::string(name) + " is " + std::to_string(*granted) + " in the grant; the request asks none";
  if (*asked > *granted)
    return std::string(name) + " " + std::to_string(*asked) + " is more than the grant's " + std::to_string(*granted);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> ScopeBeyondGrant(const AccessRequest& asked, const domain::Scope& granted) {
  const domain::Scope& a = asked.scope;
  if (a.provider != granted.provider)
    return "the grant is for " + granted.provider + ", not " + a.provider;
  for (const std::string& c : a.capabilities)
    if (!granted.AllowsCapability(c)) return "the grant does not hold the capability " + c;
  return std::nullopt;
}

std::optional<std::string> BeyondGrant(const AccessRequest& asked, const domain::Scope& granted,
                                       int64_t granted_lifetime) {
  const domain::Scope& a = asked.scope;
  if (auto wider = ScopeBeyondGrant(asked, granted)) return wider;
  if (!granted.models.empty()) {
    if (a.models.empty()) return "the grant holds only the models " + domain::JoinForHumans(granted.models);
    for (const std::string& m : a.models)
      if (std::none_of(granted.models.begin(), granted.models.end(),
                       [&](const std::string& g) { return PatternWithin(m, g); }))
        return "the grant does not hold the model " + m;
  }
  for (auto limit : {Looser("max_budget_cents", a.max_budget_cents, granted.max_budget_cents),
                     Looser("max_requests", a.max_requests, granted.max_requests),
                     Looser("rate_limit", a.rate_limit, granted.rate_limit),
                     Looser("max_tokens_per_minute", a.max_tokens_per_minute, granted.max_tokens_per_minute),
                     Looser("max_concurrent", a.max_concurrent, granted.max_concurrent)})
    if (limit) return limit;
  if (a.max_delegation_depth && !granted.max_delegation_depth) return std::string("the grant may not delegate");
  if (auto deeper = Looser("max_delegation_depth", a.max_delegation_depth, granted.max_delegation_depth);
      deeper && a.max_delegation_depth)
    return deeper;
  if (asked.lifetime_named && asked.lifetime_seconds > granted_lifetime)
    return "lifetime_seconds " + std::to_string(asked.lifetime_seconds) + " is more than the grant's " +
           std::to_string(granted_lifetime);
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
  if (scope.max_delegation_depth) {
    item["may_delegate"] = true;
    item["max_delegation_depth"] = *scope.max_delegation_depth;
  }
  return json::array{std::move(item)};
}

}  // namespace ap::oauth
