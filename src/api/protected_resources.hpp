#pragma once
// The broker's protected resources (RFC 9728): each provider prefix an app's SDK takes as its base
// URL (/openai/v1, /anthropic, /gemini, /<name>/v1 for a declared OpenAI-compatible upstream), the
// reference's /proxy, and the broker itself (its root). A token asked for one of them (RFC 8707
// `resource`) carries its URL as `aud` and is refused on every other; the broker itself stands for
// every path, like a token asked for none.

#include <string>
#include <string_view>
#include <vector>

#include "proxy/providers.hpp"

namespace ap::api {

struct ProtectedResource {
  std::string path;           // under the broker's URL; "" for the broker itself
  std::string name;           // resource_name
  std::string provider;       // the grant provider its calls go to; empty: any
  std::string documentation;  // resource_documentation; empty: the broker's home page
};

// The broker itself first, then one per provider of `table`, then /proxy.
std::vector<ProtectedResource> ProtectedResources(const proxy::ProviderTable& table);

// The resource whose path `target` (a request target, query allowed) lies under, segment by
// segment; the broker itself when no other's does. `all` is ProtectedResources' answer.
const ProtectedResource& ResourceOf(const std::vector<ProtectedResource>& all, std::string_view target);

// The resource whose URL (public_url + path) is `url` exactly; null when none is.
const ProtectedResource* FindResource(const std::vector<ProtectedResource>& all, std::string_view public_url,
                                      std::string_view url);

// Its identifier, public_url + path (RFC 8707 `resource`, the token's `aud`).
std::string ResourceUrl(std::string_view public_url, const ProtectedResource& resource);
// Where its metadata is served (RFC 9728 §3.1): the well-known name inserted before its path.
std::string ResourceMetadataUrl(std::string_view public_url, const ProtectedResource& resource);

inline constexpr std::string_view kResourceMetadataPath = "/.well-known/oauth-protected-resource";

}  // namespace ap::api
