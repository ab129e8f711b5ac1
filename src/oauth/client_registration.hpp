#pragma once
// Making a client: the checks and the secret, shared by `aipassport client add` and dynamic
// registration (RFC 7591, when the owner enables it).

#include <boost/json/fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "store/store.hpp"

namespace ap::oauth {

inline constexpr std::string_view kDeviceGrantType = "urn:ietf:params:oauth:grant-type:device_code";

struct ClientRequest {
  std::string name;
  std::vector<std::string> redirect_uris;
  std::string home_url;
  std::string logo_url;
  bool confidential = false;
  bool dpop_required = false;
  bool self_registered = false;  // RFC 7591: shown to owners as unverified
  std::string registered_by = {};  // the owner registering it on /apps (store::ClientRecord)
  bool device_grant = false;       // it may start the device flow (store::ClientRecord)
};

struct NewClient {
  store::ClientRecord record;
  std::string secret;  // confidential clients only: shown once, stored as SHA-256
};

// The client `request` describes; kValidation naming what is wrong (redirect URIs must pass
// CheckRedirectUri, home and logo URLs IsWebUrl).
Result<NewClient> MakeClient(const ClientRequest& request, UnixSeconds now);

// Whether an app's metadata (RFC 7591 §2, as it registers itself or in its client_id document) asks
// for the device grant in its grant_types; kValidation when grant_types is not an array of strings.
// The other types are not read: an app may use the code flow and refresh whatever it says.
Result<bool> AsksForDeviceGrant(const boost::json::object& metadata);

}  // namespace ap::oauth
