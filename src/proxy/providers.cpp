#include "proxy/providers.hpp"

namespace ap::proxy {
namespace {

// The reference's key variable names, in its order.
constexpr const char* kOpenAIKeys[] = {"OPENAI_API_KEY", "OPENAI_KEY", "OPEN_AI_API_KEY", "OPEN_AI_KEY"};
constexpr const char* kAnthropicKeys[] = {"ANTHROPIC_API_KEY", "ANTHROPIC_KEY", "CLAUDE_API_KEY", "CLAUDE_KEY",
                                          "CLAUDE_SECRET_KEY"};
constexpr const char* kGoogleKeys[] = {"GOOGLE_API_KEY", "GOOGLE_AI_API_KEY", "GEMINI_API_KEY", "GEMINI_KEY"};

struct ProviderFacts {
  std::string_view name;
  std::string_view base_url;
  std::span<const char* const> key_variables;
};

// Indexed by Provider.
constexpr ProviderFacts kFacts[] = {
    {"openai", "https://api.openai.com", kOpenAIKeys},
    {"anthropic", "https://api.anthropic.com", kAnthropicKeys},
    {"google", "https://generativelanguage.googleapis.com", kGoogleKeys},
};
static_assert(std::size(kFacts) == kAllProviders.size());

const ProviderFacts& FactsOf(Provider p) { return kFacts[static_cast<size_t>(p)]; }

}  // namespace

std::string_view ProviderName(Provider p) { return FactsOf(p).name; }
std::string_view DefaultBaseUrl(Provider p) { return FactsOf(p).base_url; }
std::span<const char* const> KeyEnvironmentVariables(Provider p) { return FactsOf(p).key_variables; }

ProviderTable::ProviderTable() {
  for (Provider p : kAllProviders)
    endpoints.push_back(ProviderEndpoint{std::string(ProviderName(p)), p, {}, false, false, {}});
}

const ProviderEndpoint* ProviderTable::Find(std::string_view name) const {
  for (const auto& e : endpoints)
    if (e.name == name) return &e;
  return nullptr;
}

std::vector<std::string> ProviderTable::Names() const {
  std::vector<std::string> names;
  for (const auto& e : endpoints) names.push_back(e.name);
  return names;
}

std::optional<Provider> ParseProvider(std::string_view name) {
  for (Provider p : kAllProviders)
    if (ProviderName(p) == name) return p;
  return std::nullopt;
}

}  // namespace ap::proxy
