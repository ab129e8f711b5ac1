#include "oauth/client_registration.hpp"

#include "core/ids.hpp"
#include "crypto/hash.hpp"
#include "http/url.hpp"

namespace ap::oauth {

bool IsLoopbackRedirect(std::string_view uri) {
  for (std::string_view host : {"http://127.0.0.1", "http://[::1]"})
    if (uri.starts_with(host) && uri.size() > host.size() && (uri[host.size()] == ':' || uri[host.size()] == '/'))
      return true;
  return false;
}

Status CheckRedirectUri(const std::string& uri) {
  if (!uri.starts_with("https://") && !IsLoopbackRedirect(uri))
    return MakeError(Errc::kValidation, "redirect URI '" + uri + "' must be https, or http on 127.0.0.1 or [::1]");
  if (uri.find('#') != std::string::npos)
    return MakeError(Errc::kValidation, "redirect URI '" + uri + "' has a fragment");
  if (uri.size() > 2048) return MakeError(Errc::kValidation, "a redirect URI is too long");
  return {};
}

Result<NewClient> MakeClient(const ClientRequest& request, UnixSeconds now) {
  if (request.name.empty() || request.name.size() > 200)
    return MakeError(Errc::kValidation, "a client needs a name of at most 200 characters");
  if (request.redirect_uris.empty() || request.redirect_uris.size() > 20)
    return MakeError(Errc::kValidation, "a client needs 1 to 20 redirect URIs");
  for (const auto& uri : request.redirect_uris)
    if (auto ok = CheckRedirectUri(uri); !ok) return ok.error();
  for (const auto* url : {&request.home_url, &request.logo_url})
    if (!url->empty() && !http::IsWebUrl(*url))
      return MakeError(Errc::kValidation, "'" + *url + "' is not an http(s) URL");
  NewClient client;
  client.record = store::ClientRecord{"app_" + RandomToken(12),
                                      request.name,
                                      request.home_url,
                                      request.logo_url,
                                      request.redirect_uris,
                                      request.confidential,
                                      "",
                                      request.dpop_required,
                                      now};
  if (request.confidential) {
    client.secret = RandomToken(32);
    client.record.secret_hash = crypto::Sha256Hex(client.secret);
  }
  return client;
}

}  // namespace ap::oauth
