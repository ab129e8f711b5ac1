#include "domain/scope.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>

#include "core/money.hpp"

namespace ap::domain {
namespace {

constexpr size_t kMaxModels = 100;
constexpr size_t kMaxModelLength = kMaxModelId;

void Add(std::vector<FieldError>& errors, std::string_view prefix, std::string_view field, std::string message) {
  errors.push_back({std::string(prefix) + "." + std::string(field), std::move(message)});
}

// The largest limit of each kind: a budget of $1e9 (kMaxMicros), and figures no grant needs more of,
// so that no sum or product of them can wrap.
constexpr int64_t kMaxBudgetCents = kMaxMicros / 10'000;
constexpr int64_t kMaxCount = 1'000'000'000'000;

std::optional<int64_t> ReadLimit(const boost::json::object& o, std::string_view prefix, std::string_view field,
                                 int64_t minimum, int64_t maximum, std::vector<FieldError>& errors) {
  auto it = o.find(field);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  const auto& v = it->value();
  std::optional<int64_t> n;
  if (v.is_int64())
    n = v.get_int64();
  else if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(INT64_MAX))
    n = static_cast<int64_t>(v.get_uint64());
  else if (v.is_double() && std::abs(v.get_double()) < 9e15 &&  // in range before the cast: beyond it, UB
           v.get_double() == static_cast<double>(static_cast<int64_t>(v.get_double())))
    n = static_cast<int64_t>(v.get_double());
  if (!n) {
    Add(errors, prefix, field, "Expected an integer");
    return std::nullopt;
  }
  if (*n < minimum || *n > maximum) {
    Add(errors, prefix, field, "Must be from " + std::to_string(minimum) + " to " + std::to_string(maximum));
    return std::nullopt;
  }
  return n;
}

std::vector<std::string> ReadStringList(const boost::json::object& o, std::string_view prefix, std::string_view field,
                                        std::vector<FieldError>& errors) {
  std::vector<std::string> out;
  auto it = o.find(field);
  if (it == o.end()) {
    Add(errors, prefix, field, "Required");
    return out;
  }
  if (!it->value().is_array()) {
    Add(errors, prefix, field, "Expected an array of strings");
    return out;
  }
  const auto& arr = it->value().get_array();
  if (arr.size() > kMaxModels) {  // not read: telling its duplicates apart takes time in the square of its length
    Add(errors, prefix, field, "Too many entries (at most " + std::to_string(kMaxModels) + ")");
    return {};
  }
  for (const auto& item : arr) {
    if (!item.is_string() || item.get_string().empty() || item.get_string().size() > kMaxModelLength) {
      Add(errors, prefix, field,
          "Expected non-empty strings of at most " + std::to_string(kMaxModelLength) + " characters");
      return {};
    }
    std::string s(item.get_string());
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
  }
  return out;
}

template <size_t N>
bool OneOf(std::string_view value, const std::string_view (&allowed)[N]) {
  return std::find(std::begin(allowed), std::end(allowed), value) != std::end(allowed);
}

template <size_t N>
std::string ListOf(const std::string_view (&allowed)[N]) {
  return JoinForHumans(std::vector<std::string>(std::begin(allowed), std::end(allowed)));
}

}  // namespace

namespace {

// ASCII letters and digits and ". - _ : / @", looked up in a table: std::isalnum is a call per
// character (every call's model is checked), and depends on the process's locale (setlocale), so a
// library that changed it could let letters outside ASCII through.
constexpr auto kModelChars = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c)
    table[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               std::string_view(".-_:/@").find(static_cast<char>(c)) != std::string_view::npos;
  return table;
}();

bool IsModelChar(unsigned char c) { return kModelChars[c]; }

}  // namespace

bool IsModelId(std::string_view model) {
  return !model.empty() && model.size() <= kMaxModelId && std::all_of(model.begin(), model.end(), IsModelChar);
}

bool IsModelPattern(std::string_view pattern) {
  return !pattern.empty() && pattern.size() <= kMaxModelId &&
         static_cast<size_t>(std::count(pattern.begin(), pattern.end(), '*')) <= kMaxPatternStars &&
         std::all_of(pattern.begin(), pattern.end(), [](unsigned char c) { return c == '*' || IsModelChar(c); });
}

// The greedy glob match: on a mismatch, only the most recent star takes one more character, since
// whatever an earlier star could absorb the later one can too.
bool ModelMatches(std::string_view pattern, std::string_view model) {
  size_t p = 0;
  size_t m = 0;
  size_t star = std::string_view::npos;  // the last star seen in the pattern
  size_t star_m = 0;                     // where in the model that star's run ends now
  while (m < model.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_m = m;
    } else if (p < pattern.size() && pattern[p] == model[m]) {
      ++p;
      ++m;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      m = ++star_m;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool Scope::AllowsAnyModel() const {
  return models.empty() || std::any_of(models.begin(), models.end(), [](const std::string& p) {
           return p.find_first_not_of('*') == std::string::npos;
         });
}

bool Scope::AllowsModel(std::string_view model) const {
  if (models.empty()) return true;  // the reference's meaning of an empty list: any model
  if (!IsModelId(model)) return false;
  return std::any_of(models.begin(), models.end(), [&](const std::string& p) { return ModelMatches(p, model); });
}

namespace {

bool KnownProvider(std::string_view name, const std::vector<std::string>& providers) {
  if (providers.empty()) return OneOf(name, kProviders);
  return std::find(providers.begin(), providers.end(), name) != providers.end();
}

}  // namespace

bool Scope::AllowsCapability(std::string_view capability) const {
  return std::find(capabilities.begin(), capabilities.end(), capability) != capabilities.end();
}

Result<Scope> ParseScope(const boost::json::value& value, std::string_view prefix,
                         const std::vector<std::string>& providers, ScopeBy by) {
  // The least requests and tokens a minute and calls at once (see ScopeBy).
  const int64_t least_pace = by == ScopeBy::kApp ? 1 : 0;
  std::vector<FieldError> errors;
  if (!value.is_object()) {
    errors.push_back({std::string(prefix), value.is_null() ? "Required" : "Expected an object"});
    return Error{Errc::kValidation, "Validation failed", std::move(errors)};
  }
  const auto& o = value.get_object();
  for (const auto& member : o) {
    static constexpr std::string_view kKnown[] = {"provider",    "models",    "capabilities",       "maxBudgetCents",
                                                  "maxRequests", "rateLimit", "maxTokensPerMinute", "maxConcurrent",
                                                  "maxDelegationDepth"};
    if (!OneOf(member.key(), kKnown)) Add(errors, prefix, member.key(), "Unknown field");
  }
  Scope scope;
  auto provider = o.find("provider");
  if (provider == o.end())
    Add(errors, prefix, "provider", "Required");
  else if (!provider->value().is_string() || !KnownProvider(provider->value().get_string(), providers))
    Add(errors, prefix, "provider",
        "Expected one of " + (providers.empty() ? ListOf(kProviders) : JoinForHumans(providers)));
  else
    scope.provider = provider->value().get_string();
  scope.models = ReadStringList(o, prefix, "models", errors);
  for (const auto& m : scope.models)
    if (!IsModelPattern(m)) {
      Add(errors, prefix, "models",
          "Expected model ids of letters, digits and . - _ : / @, with at most " + std::to_string(kMaxPatternStars) +
              " '*'");
      break;
    }
  scope.capabilities = ReadStringList(o, prefix, "capabilities", errors);
  for (const auto& c : scope.capabilities)
    if (!OneOf(c, kCapabilities)) {
      Add(errors, prefix, "capabilities", "Unknown capability '" + c + "'; expected " + ListOf(kCapabilities));
      break;
    }
  scope.max_budget_cents = ReadLimit(o, prefix, "maxBudgetCents", 0, kMaxBudgetCents, errors);
  scope.max_requests = ReadLimit(o, prefix, "maxRequests", 0, kMaxCount, errors);
  scope.rate_limit = ReadLimit(o, prefix, "rateLimit", least_pace, kMaxCount, errors);
  scope.max_tokens_per_minute = ReadLimit(o, prefix, "maxTokensPerMinute", least_pace, kMaxCount, errors);
  scope.max_concurrent = ReadLimit(o, prefix, "maxConcurrent", least_pace, kMaxCount, errors);
  scope.max_delegation_depth = ReadLimit(o, prefix, "maxDelegationDepth", 1, kMaxDelegationDepth, errors);
  if (!errors.empty()) return Error{Errc::kValidation, "Validation failed", std::move(errors)};
  return scope;
}

boost::json::object ScopeToJson(const Scope& scope) {
  boost::json::object o;
  o["provider"] = scope.provider;
  o["models"] = boost::json::array(scope.models.begin(), scope.models.end());
  o["capabilities"] = boost::json::array(scope.capabilities.begin(), scope.capabilities.end());
  if (scope.max_budget_cents) o["maxBudgetCents"] = *scope.max_budget_cents;
  if (scope.max_requests) o["maxRequests"] = *scope.max_requests;
  if (scope.rate_limit) o["rateLimit"] = *scope.rate_limit;
  if (scope.max_tokens_per_minute) o["maxTokensPerMinute"] = *scope.max_tokens_per_minute;
  if (scope.max_concurrent) o["maxConcurrent"] = *scope.max_concurrent;
  if (scope.max_delegation_depth) o["maxDelegationDepth"] = *scope.max_delegation_depth;
  return o;
}

std::string ScopeToJsonText(const Scope& scope) { return boost::json::serialize(ScopeToJson(scope)); }

Result<Scope> ParseScopeText(std::string_view json_text) {
  boost::system::error_code ec;
  auto value = boost::json::parse(json_text, ec);
  if (ec) return MakeError(Errc::kInternal, "stored scope is not JSON");
  // A grant for an upstream the owner has since removed still loads; calls then say it is not served.
  std::vector<std::string> stored_provider;
  if (const auto* o = value.if_object())
    if (const auto* p = o->if_contains("provider"); p && p->is_string()) stored_provider.emplace_back(p->get_string());
  return ParseScope(value, "scope", stored_provider, ScopeBy::kOwner);
}

std::string JoinForHumans(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += (i + 1 == items.size()) ? " and " : ", ";
    out += items[i];
  }
  return out;
}

}  // namespace ap::domain
