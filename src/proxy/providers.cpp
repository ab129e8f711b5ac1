#include "proxy/providers.hpp"

namespace ap::proxy {
namespace {

// The reference's names, in its order.
constexpr const char* kOpenAIKeys[] = {"OPENAI_API_KEY", "OPENAI_KEY", "OPEN_AI_API_KEY", "OPEN_AI_KEY"};
constexpr const char* kAnthropicKeys[] = {"ANTHROPIC_API_KEY", "ANTHROPIC_KEY", "CLAUDE_API_KEY", "CLAUDE_KEY",
                                          "CLAUDE_SECRET_KEY"};
constexpr const char* kGoogleKeys[] = {"GOOGLE_API_KEY", "GOOGLE_AI_API_KEY", "GEMINI_API_KEY", "GEMINI_KEY"};

}  // namespace

std::string_view ProviderName(Provider p) {
  switch (p) {
    case Provider::kOpenAI:
      return "openai";
    case Provider::kAnthropic:
      return "anthropic";
    case Provider::kGoogle:
      return "google";
  }
  return "openai";
}

std::optional<Provider> ParseProvider(std::string_view name) {
  for (Provider p : kAllProviders)
    if (ProviderName(p) == name) return p;
  return std::nullopt;
}

std::string_view DefaultBaseUrl(Provider p) {
  switch (p) {
    case Provider::kOpenAI:
      return "https://api.openai.com";
    case Provider::kAnthropic:
      return "https://api.anthropic.com";
    case Provider::kGoogle:
      return "https://generativelanguage.googleapis.com";
  }
  return "";
}

std::span<const char* const> KeyEnvironmentVariables(Provider p) {
  switch (p) {
    case Provider::kOpenAI:
      return kOpenAIKeys;
    case Provider::kAnthropic:
      return kAnthropicKeys;
    case Provider::kGoogle:
      return kGoogleKeys;
  }
  return {};
}

}  // namespace ap::proxy
