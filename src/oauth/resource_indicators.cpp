#include "oauth/resource_indicators.hpp"

#include <algorithm>

namespace ap::oauth {

namespace {

Error Invalid(std::string why) { return MakeError(Errc::kBadRequest, std::move(why)); }

bool Holds(const std::vector<std::string>& items, std::string_view item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

}  // namespace

Result<std::vector<std::string>> CheckResources(const std::vector<std::string>& asked,
                                                const std::vector<api::ProtectedResource>& all,
                                                std::string_view public_url, std::string_view provider) {
  std::vector<std::string> urls;
  for (const std::string& url : asked) {
    const api::ProtectedResource* resource = api::FindResource(all, public_url, url);
    if (!resource)
      return Invalid("unknown resource '" + url.substr(0, 200) + "': this broker's resources are listed at " +
                     std::string(public_url) + std::string(api::kResourceMetadataPath) + "/...");
    if (!provider.empty() && !resource->provider.empty() && resource->provider != provider)
      return Invalid("the resource " + api::ResourceUrl(public_url, *resource) + " serves " + resource->provider +
                     ", and this request is for " + std::string(provider));
    std::string canonical = api::ResourceUrl(public_url, *resource);
    if (!Holds(urls, canonical)) urls.push_back(std::move(canonical));
  }
  return urls;
}

Result<std::vector<std::string>> NarrowResources(const std::vector<std::string>& asked,
                                                 const std::vector<std::string>& granted) {
  if (asked.empty()) return granted;
  if (!granted.empty())
    for (const std::string& url : asked)
      if (!Holds(granted, url)) return Invalid("the resource " + url + " was not part of the authorization request");
  return asked;
}

}  // namespace ap::oauth
