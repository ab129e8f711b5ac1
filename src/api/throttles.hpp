#pragma once
// The throttles of the endpoints where callers without an owner's credential make the broker
// remember something: a device authorization, a waiting authorization request, a DPoP proof's jti,
// a grant request, a registered client. Each is counted per client address and, once the client is
// known, per client; what is remembered has its own bound besides (see each table).
// A throttled caller gets 429 with Retry-After; a throttle whose table of keys is full gets 503.
// Thread-safety: the throttles may be used from any thread.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/error.hpp"
#include "domain/credential_throttle.hpp"
#include "domain/keyed_throttle.hpp"
#include "domain/sign_in_gate.hpp"

namespace ap::api {

struct Throttles {
  Throttles() = default;
  // grant_requests.per_address_per_minute and grant_requests.max_waiting from the configuration.
  Throttles(int64_t grant_requests_per_address, int64_t max_waiting)
      : grant_requests_by_address{grant_requests_per_address, kWindowSeconds, kMaxKeys},
        max_waiting_grant_requests(max_waiting) {}

  static constexpr int64_t kWindowSeconds = 60;
  static constexpr size_t kMaxKeys = 20000;  // addresses or clients tracked per throttle (~2 MB)

  // RFC 8628 §3.1: a device asks once per sign-in; a whole office behind one address rarely more.
  static constexpr int64_t kDeviceAuthorizationsPerAddress = 20;
  static constexpr int64_t kDeviceAuthorizationsPerClient = 200;
  // /oauth/authorize with a signed-in owner: each one waits for a decision on the consent screen.
  static constexpr int64_t kAuthorizationsPerAddress = 30;
  static constexpr int64_t kAuthorizationsPerClient = 200;
  // DPoP proofs at /oauth/token, each remembered for its window: device polls and refreshes.
  static constexpr int64_t kTokenProofsPerAddress = 300;
  static constexpr int64_t kTokenProofsPerClient = 600;
  // POST /grant-requests and /oauth/register: rows in the store that live until decided or removed.
  static constexpr int64_t kGrantRequestsPerAddress = 60;
  static constexpr int64_t kRegistrationsPerAddress = 10;
  // Access tokens issued for one grant (POST /tokens, a code or a refresh at /oauth/token): an app
  // takes one an hour, a fleet of its instances some more; each is a row (a refresh token) and an
  // audit event, so an app looping on it would grow both without end.
  static constexpr int64_t kTokensPerGrant = 60;
  // Unverified requests waiting for a decision at once: enough for real apps, too few to bury them.
  static constexpr int64_t kMaxWaitingGrantRequests = 100;
  // Of those, from one address (as AddressKey keys it): a tenth, at least one.
  static constexpr int64_t WaitingFromOneAddress(int64_t max_waiting) { return std::max<int64_t>(1, max_waiting / 10); }

  domain::KeyedThrottle device_authorizations_by_address{kDeviceAuthorizationsPerAddress, kWindowSeconds, kMaxKeys};
  domain::KeyedThrottle device_authorizations_by_client{kDeviceAuthorizationsPerClient, kWindowSeconds, kMaxKeys};
  domain::KeyedThrottle authorizations_by_address{kAuthorizationsPerAddress, kWindowSeconds, kMaxKeys};
  domain::KeyedThrottle authorizations_by_client{kAuthorizationsPerClient, kWindowSeconds, kMaxKeys};
  domain::KeyedThrottle token_proofs_by_address{kTokenProofsPerAddress, kWindowSeconds, kMaxKeys};
  domain::KeyedThrottle token_proofs_by_client{kTokenProofsPerClient, kWindowSeconds, kMaxKeys};
  domain::KeyedThrottle grant_requests_by_address{kGrantRequestsPerAddress, kWindowSeconds, kMaxKeys};
  domain::KeyedThrottle registrations_by_address{kRegistrationsPerAddress, kWindowSeconds, kMaxKeys};
  domain::KeyedThrottle tokens_by_grant{kTokensPerGrant, kWindowSeconds, kMaxKeys};
  int64_t max_waiting_grant_requests = kMaxWaitingGrantRequests;
  // Sign-ins and typed device codes: one at a time per address, so each is judged by the failures
  // before it (domain::SignInGate).
  domain::SignInGate sign_ins;
  // The owner credential (owner token or AIPASSPORT_ADMIN_TOKEN) presented as a bearer token:
  // guesses slowed per address (domain::CredentialThrottle).
  domain::CredentialThrottle owner_credentials;
};

// Counts one of `what` ("device authorization requests") from the client address `peer` (as
// domain::AddressKey keys it), or for the client `client_id`: the refusal when `throttle` does not
// admit it, kRateLimited (429) for a throttled key, kUnavailable (503) when the throttle tracks too
// many keys; Retry-After in both. The windows are timed on the monotonic clock (MonotonicSeconds):
// a wall clock set forward must not end them early, nor one set back make them last longer.
std::optional<Error> ThrottleAddress(domain::KeyedThrottle& throttle, std::string_view peer, std::string_view what);
std::optional<Error> ThrottleClient(domain::KeyedThrottle& throttle, std::string_view client_id, std::string_view what);
// As ThrottleClient, for the grant `grant_id` ("tokens": "Too many tokens for this grant").
std::optional<Error> ThrottleGrant(domain::KeyedThrottle& throttle, std::string_view grant_id, std::string_view what);

// Why the sign-in gate did not let `what` ("sign-in") through: kRateLimited while another from its
// address is being checked, kUnavailable while the most are; Retry-After 1 in both. None when it passed.
std::optional<Error> SignInRefusal(domain::SignInGate::Verdict verdict, std::string_view what);

}  // namespace ap::api
