#include "oauth/client_registration.hpp"

#include <boost/json/object.hpp>

#include "core/ids.hpp"
#include "crypto/hash.hpp"
#include "http/url.hpp"
#include "oauth/redirect_uri.hpp"

namespace ap::oauth {
namespace {

constexpr size_t kMaxClientUrl = 2048;

}  // namespace

Result<NewClient> MakeClient(const ClientRequest& request, UnixSeconds now) {
  if (request.name.empty() || request.name.size() > 200)
    return MakeError(Errc::kValidation, "a client needs a name of at most 200 characters");
  if (request.name.find('\0') != std::string::npos)  // PostgreSQL's text cannot hold it
    return MakeError(Errc::kValidation, "a client's name cannot hold a NUL character");
  if (request.redirect_uris.empty() || request.redirect_uris.size() > 20)
    return MakeError(Errc::kValidation, "a client needs 1 to 20 redirect URIs");
  for (const auto& uri : request.redirect_uris)
    if (auto ok = CheckRedirectUri(uri); !ok) return ok.error();
  // Copied into every grant the app asks for (and each delegated below it), and shown on its pages.
  for (const auto* url : {&request.home_url, &request.logo_url}) {
    if (url->size() > kMaxClientUrl)
      return MakeError(Errc::kValidation,
                       "a home page or logo URL is longer than " + std::to_string(kMaxClientUrl) + " characters");
    if (!url->empty() && !http::IsWebUrl(*url))
      return MakeError(Errc::kValidation, "'" + *url + "' is not an http(s) URL");
  }
  NewClient client;
  client.record = store::ClientRecord{"app_" + RandomToken(12),
                                      request.name,
                                      request.home_url,
                                      request.logo_url,
                                      request.redirect_uris,
                                      request.confidential,
                                      "",
                                      request.dpop_required,
                                      now,
                                      request.self_registered,
                                      request.registered_by,
                                      request.device_grant};
  if (request.confidential) {
    client.secret = RandomToken(32);
    client.record.secret_hash = crypto::Sha256Hex(client.secret);
  }
  return client;
}

Result<bool> AsksForDeviceGrant(const boost::json::object& metadata) {
  const boost::json::value* types = metadata.if_contains("grant_types");
  if (!types || types->is_null()) return false;
  auto bad = [] { return MakeError(Errc::kValidation, "grant_types must be an array of strings"); };
  if (!types->is_array()) return bad();
  bool device = false;
  for (const auto& type : types->get_array()) {
    if (!type.is_string()) return bad();
    device = device || type.get_string() == kDeviceGrantType;
  }
  return device;
}

}  // namespace ap::oauth
