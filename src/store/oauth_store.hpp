#pragma once
// The OAuth side: registered clients, authorization codes and refresh token families. Methods
// block on I/O: call them on the store thread.
// Thread-safety: an implementation is used by one thread at a time.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace ap::store {

// An app registered to use the OAuth flows.
struct ClientRecord {
  std::string id;  // client_id
  std::string name;
  std::string home_url;
  std::string logo_url;
  std::vector<std::string> redirect_uris;  // compared exactly (a loopback one's port may vary)
  bool confidential = false;
  std::string secret_hash;  // SHA-256 hex of the secret, confidential clients only
  bool dpop_required = false;
  UnixSeconds created_at = 0;
  bool self_registered = false;  // RFC 7591: the app described itself; nobody vouched for it
  // The owner who registered it on /apps, who alone may change or remove it there; empty: the
  // operator's (`aipassport client add`) or the app's own (self-registered).
  std::string registered_by = {};
  // Whether it may start the device flow (RFC 8628): anyone may start one in a public app's name
  // and send the code to the person it wants access from, who then sees that app's name on the
  // consent screen. Only apps that run on devices without a browser need it.
  bool device_grant = false;
};

// A one-time authorization code, stored by its SHA-256.
struct AuthorizationCodeRecord {
  std::string code_hash;
  std::string client_id;
  std::string redirect_uri;
  std::string code_challenge;  // S256
  std::string grant_id;
  UnixSeconds expires_at = 0;
  // The resources (RFC 8707) asked for, space-separated (a URL has no space); empty: none named.
  std::string resources;
};

// An opaque refresh token, stored by its SHA-256. Each use replaces it with a new one of the same
// family; a used or revoked one presented again gives itself away.
struct RefreshTokenRecord {
  std::string token_hash;
  std::string family_id;
  std::string grant_id;
  std::string client_id;
  UnixSeconds created_at = 0;
  std::string jkt;  // the DPoP key it is bound to (public clients); empty: not bound
  // The resources (RFC 8707) its family was granted, space-separated; empty: none named.
  std::string resources;
};

// The refresh tokens an OAuth client was given for a grant, one rotation chain (family) summed up.
struct RefreshFamilyRecord {
  std::string family_id;
  std::string client_id;
  UnixSeconds started_at = 0;                    // its first token
  std::optional<UnixSeconds> last_refreshed_at;  // its latest use
  std::optional<UnixSeconds> revoked_at;         // set once the family stopped working
  int64_t tokens = 0;
};

class OAuthStore {
 public:
  virtual ~OAuthStore() = default;

  // kBadRequest "already exists" when the id is taken.
  virtual Status CreateClient(const ClientRecord& client) = 0;
  // kNotFound when there is no such client.
  virtual Result<ClientRecord> GetClient(std::string_view id) = 0;
  virtual Result<std::vector<ClientRecord>> ListClients() = 0;
  // How many clients registered themselves (RFC 7591); they are bounded so that lists stay small.
  virtual Result<int64_t> CountSelfRegisteredClients() = 0;
  virtual Status DeleteClient(std::string_view id) = 0;
  // Replaces the client's name, home page, logo and redirect URIs (its id, secret and kind stay);
  // kNotFound when there is no such client.
  virtual Status UpdateClient(const ClientRecord& client) = 0;

  virtual Status CreateAuthorizationCode(const AuthorizationCodeRecord& code) = 0;
  // Marks the code used, in one atomic step: of two concurrent redemptions exactly one gets the
  // code; the other learns it was a replay and of which grant. kNotFound for an unknown code.
  struct Redeemed {
    std::optional<AuthorizationCodeRecord> code;   // set when this call redeemed it
    std::optional<std::string> replayed_grant_id;  // set when it had been redeemed before
  };
  virtual Result<Redeemed> RedeemAuthorizationCode(std::string_view code_hash, UnixSeconds now) = 0;
  // The code as issued, used or not, without using it. kNotFound for an unknown code.
  virtual Result<AuthorizationCodeRecord> GetAuthorizationCode(std::string_view code_hash) = 0;

  virtual Status CreateRefreshToken(const RefreshTokenRecord& token) = 0;
  // What a used refresh token is replaced by; the rest (family, grant, client, resources) is the
  // used token's, and its time the use's.
  struct RefreshSuccessor {
    std::string token_hash;
    std::string jkt;  // empty: not bound
  };
  // Marks the token used and stores `next` in its place, in one transaction: a token is never used
  // up without its successor (a failure, or a crash between, would leave the app none to present).
  // `fresh` is set when this call used it; `reused` when it had been used or revoked before (the
  // caller then ends its family, and nothing is stored). kNotFound for an unknown token.
  struct RefreshUse {
    std::optional<RefreshTokenRecord> fresh;
    std::optional<RefreshTokenRecord> reused;
  };
  virtual Result<RefreshUse> UseRefreshToken(std::string_view token_hash, UnixSeconds now,
                                             const RefreshSuccessor& next) = 0;
  // kNotFound for an unknown token.
  virtual Result<RefreshTokenRecord> GetRefreshToken(std::string_view token_hash) = 0;
  // The grant's refresh token families, the latest started first, at most `limit`.
  virtual Result<std::vector<RefreshFamilyRecord>> ListRefreshFamilies(std::string_view grant_id, int64_t limit) = 0;
  // Every token of the family stops working.
  virtual Status RevokeRefreshFamily(std::string_view family_id, UnixSeconds now) = 0;
  // Deletes what can serve nothing since `before`: authorization codes that expired, and refresh
  // tokens used (replaced) or revoked, or whose grant was revoked, denied, expired or removed. A
  // token used before then and presented again is refused as unknown, no longer as a replay.
  // Returns how many rows.
  virtual Result<int64_t> PruneEndedTokens(UnixSeconds before) = 0;
};

}  // namespace ap::store
