#pragma once
// The upstream providers: where each one lives. The keys the broker injects live in the vault.

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

// One upstream the broker can call: a built-in provider, or an OpenAI-compatible server the owner
// declared (Ollama, vLLM, Mistral...), which speaks OpenAI's wire format under its own name.
struct ProviderEndpoint {
  std::string name;  // the grant's provider and the path prefix: "openai", "groq"...
  Provider wire = Provider::kOpenAI;
  http::Origin base;
  bool keyless = false;  // a local server that takes no key (Ollama): call it without one
  // A server the owner declared: sent only the members OpenAI defines (proxy/openai_vocabulary.hpp)
  // and those the operator lists for it.
  bool declared = false;
  std::vector<std::string> extra_members;
};

struct ProviderTable {
  ProviderTable();
  // The three built-ins come first, in Provider order; declared OpenAI-compatible ones follow.
  std::vector<ProviderEndpoint> endpoints;
  const ProviderEndpoint& For(Provider p) const { return endpoints[static_cast<size_t>(p)]; }
  ProviderEndpoint& For(Provider p) { return endpoints[static_cast<size_t>(p)]; }
  const ProviderEndpoint* Find(std::string_view name) const;
  // The names a grant's provider may take.
  std::vector<std::string> Names() const;
};

}  // namespace ap::proxy
