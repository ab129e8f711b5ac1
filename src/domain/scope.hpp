#pragma once
// What a grant allows: the reference's `scope` object, validated.

#include <boost/json/fwd.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace ap::domain {

inline constexpr std::string_view kProviders[] = {"openai", "anthropic", "google"};
inline constexpr std::string_view kCapabilities[] = {"chat", "embeddings", "images", "audio", "moderation", "code"};

struct Scope {
  std::string provider;
  std::vector<std::string> models;  // exact ids or patterns ("gpt-4o*"); empty: any model (as in the reference)
  std::vector<std::string> capabilities;
  std::optional<int64_t> max_budget_cents;
  std::optional<int64_t> max_requests;
  std::optional<int64_t> rate_limit;             // requests per minute
  std::optional<int64_t> max_tokens_per_minute;  // input + output tokens per minute
  std::optional<int64_t> max_concurrent;         // calls in flight at once
  // The grant may hand narrower child grants to its own agents (RFC 8693 token exchange), this many
  // levels below it; none: it may not delegate.
  std::optional<int64_t> max_delegation_depth;

  bool AllowsModel(std::string_view model) const;
  // Every model of the provider, whichever it runs: an empty list (the reference's meaning) or a
  // pattern of stars alone.
  bool AllowsAnyModel() const;
  bool AllowsCapability(std::string_view capability) const;
};

// The most levels of delegation a grant may allow below it.
inline constexpr int64_t kMaxDelegationDepth = 4;

// Validates `value` as a scope whose provider is one of `providers` (empty: the built-in ones).
// Field errors name the offending member under `prefix` ("scope.provider"). Unknown members are
// refused: silently dropping a limit the app asked for would mislead it.
// Who sets the scope: an app may not ask for 0 requests or tokens a minute or 0 calls at once (such a
// grant could not be approved: the consent screen takes at least 1); an owner may set 0 (a grant
// paused), as a grant stored with 0 reads back.
enum class ScopeBy { kApp, kOwner };
Result<Scope> ParseScope(const boost::json::value& value, std::string_view prefix = "scope",
                         const std::vector<std::string>& providers = {}, ScopeBy by = ScopeBy::kApp);
boost::json::object ScopeToJson(const Scope& scope);
std::string ScopeToJsonText(const Scope& scope);
Result<Scope> ParseScopeText(std::string_view json_text);

// A model id a grant or a call may name: 1 to kMaxModelId letters, digits and `.-_:/@`, which covers
// "ft:gpt-4o-mini:org:custom:id", "models/gemini-2.5-pro", "meta-llama/Llama-3-8B", "llama3:8b" and
// "claude-3-5-sonnet-v2@20241022".
inline constexpr size_t kMaxModelId = 128;
bool IsModelId(std::string_view model);
// A grant's model entry: a model id in which at most kMaxPatternStars `*` may stand.
inline constexpr size_t kMaxPatternStars = 8;
bool IsModelPattern(std::string_view pattern);

// Whether `model` matches `pattern`, where `*` stands for any run of characters. Time
// O(pattern x model) at worst, without backtracking.
bool ModelMatches(std::string_view pattern, std::string_view model);

// "a, b and c"
std::string JoinForHumans(const std::vector<std::string>& items);

}  // namespace ap::domain
