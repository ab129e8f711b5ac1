#pragma once
// The upstream providers: where each one lives, and the key the broker injects for it.

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "http/url.hpp"

namespace ap::proxy {

enum class Provider { kOpenAI, kAnthropic, kGoogle };
inline constexpr std::array<Provider, 3> kAllProviders = {Provider::kOpenAI, Provider::kAnthropic, Provider::kGoogle};

// "openai", "anthropic", "google": the scope's provider names.
std::string_view ProviderName(Provider p);
std::optional<Provider> ParseProvider(std::string_view name);
// The providers' real API origins.
std::string_view DefaultBaseUrl(Provider p);
// The reference's environment variables for each provider's key, first match wins.
std::span<const char* const> KeyEnvironmentVariables(Provider p);

struct ProviderEndpoint {
  http::Origin base;
  std::string api_key;  // a secret: never log it, never echo it
};

struct ProviderTable {
  std::array<ProviderEndpoint, 3> endpoints;
  const ProviderEndpoint& For(Provider p) const { return endpoints[static_cast<size_t>(p)]; }
  ProviderEndpoint& For(Provider p) { return endpoints[static_cast<size_t>(p)]; }
};

}  // namespace ap::proxy
