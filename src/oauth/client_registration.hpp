#pragma once
// Making a client: the checks and the secret, shared by `aipassport client add` and dynamic
// registration (RFC 7591, when the owner enables it).

#include <string>
#include <vector>

#include "core/error.hpp"
#include "store/store.hpp"

namespace ap::oauth {

struct ClientRequest {
  std::string name;
  std::vector<std::string> redirect_uris;
  std::string home_url;
  std::string logo_url;
  bool confidential = false;
  bool dpop_required = false;
  bool self_registered = false;  // RFC 7591: shown to owners as unverified
  std::string registered_by = {};  // the owner registering it on /apps (store::ClientRecord)
};

struct NewClient {
  store::ClientRecord record;
  std::string secret;  // confidential clients only: shown once, stored as SHA-256
};

// The client `request` describes; kValidation naming what is wrong (redirect URIs must pass
// CheckRedirectUri, home and logo URLs IsWebUrl).
Result<NewClient> MakeClient(const ClientRequest& request, UnixSeconds now);

}  // namespace ap::oauth
