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
};

struct NewClient {
  store::ClientRecord record;
  std::string secret;  // confidential clients only: shown once, stored as SHA-256
};

// http://127.0.0.1 or http://[::1], with or without a port: a native app's redirect (RFC 8252).
bool IsLoopbackRedirect(std::string_view uri);
// Redirect URIs are https, or loopback http (native apps), without a fragment.
// kValidation with a sentence naming what is wrong.
Status CheckRedirectUri(const std::string& uri);
Result<NewClient> MakeClient(const ClientRequest& request, UnixSeconds now);

}  // namespace ap::oauth
