#include "api/protected_resources.hpp"

namespace ap::api {

namespace {

ProtectedResource ForProvider(const proxy::ProviderEndpoint& p) {
  switch (p.wire) {
    case proxy::Provider::kGoogle:
      return {"/gemini", "Gemini API through aipassport", p.name, "https://ai.google.dev/api"};
    case proxy::Provider::kAnthropic:
      return {"/" + p.name, "Anthropic API through aipassport", p.name, "https://docs.anthropic.com/en/api/messages"};
    case proxy::Provider::kOpenAI:
      break;
  }
  std::string name = p.name == "openai" ? "OpenAI API" : p.name + " (OpenAI-compatible API)";
  return {"/" + p.name + "/v1", name + " through aipassport", p.name,
          "https://platform.openai.com/docs/api-reference"};
}

bool Under(std::string_view path, std::string_view prefix) {
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

}  // namespace

std::vector<ProtectedResource> ProtectedResources(const proxy::ProviderTable& table) {
  std::vector<ProtectedResource> all{{"", "aipassport broker", "", ""}};
  for (const proxy::ProviderEndpoint& p : table.endpoints) all.push_back(ForProvider(p));
  all.push_back({"/proxy", "aipassport reference proxy (/proxy/chat)", "", ""});
  return all;
}

const ProtectedResource& ResourceOf(const std::vector<ProtectedResource>& all, std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  const ProtectedResource* best = &all.front();
  for (const ProtectedResource& r : all)
    if (!r.path.empty() && r.path.size() > best->path.size() && Under(path, r.path)) best = &r;
  return *best;
}

const ProtectedResource* FindResource(const std::vector<ProtectedResource>& all, std::string_view public_url,
                                      std::string_view url) {
  if (!url.starts_with(public_url)) return nullptr;
  std::string_view path = url.substr(public_url.size());
  if (path == "/") path = {};  // the broker itself, as URL parsers write it
  for (const ProtectedResource& r : all)
    if (r.path == path) return &r;
  return nullptr;
}

std::string ResourceUrl(std::string_view public_url, const ProtectedResource& resource) {
  return std::string(public_url) + resource.path;
}

std::string ResourceMetadataUrl(std::string_view public_url, const ProtectedResource& resource) {
  return std::string(public_url).append(kResourceMetadataPath).append(resource.path);
}

}  // namespace ap::api
