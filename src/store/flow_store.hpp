#pragma once
// What a sign-in or an OAuth flow needs between its steps, kept in the database so that any broker
// on it can serve any step (and a restart loses nothing): OAuth requests waiting for consent, device
// authorizations (RFC 8628), the DPoP proofs seen (replay check), and failed sign-in counts. Every
// table here can be grown by outsiders, so each has a bound; each row has an expiry and lapsed rows
// are pruned. Each one-time step (take a request, decide, redeem) is one atomic statement or a
// locked read-then-write: of two brokers racing, exactly one wins. Codes are stored as hashes only.
// Methods block on I/O: call them on the store thread.
// Thread-safety: an implementation is used by one thread at a time.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/time.hpp"

namespace ap::store {

// An OAuth authorization request waiting for the owner on the consent screen, by its grant.
struct PendingAuthorizationRecord {
  std::string grant_id;
  std::string client_id;
  std::string redirect_uri;
  std::string state;
  std::string code_challenge;
  int64_t lifetime_seconds = 3600;
  UnixSeconds expires_at = 0;
  // The resources (RFC 8707) asked for, space-separated (a URL has no space); empty: none named.
  std::string resources;
};

enum class DeviceDecision { kWaiting, kApproved, kDenied, kUsed };

// A device authorization request: the device polls with its device code, the person types the user
// code. Both are kept as SHA-256 hex only.
struct DeviceAuthorizationRecord {
  std::string device_code_hash;
  std::string user_code_hash;  // of the normalised code: 8 letters, no dash
  std::string client_id;
  std::string scope_json;  // what the device asked for
  int64_t lifetime_seconds = 3600;
  std::string reason;
  std::string grant_id;  // once the person entered the code
  DeviceDecision decision = DeviceDecision::kWaiting;
  int64_t interval = 5;  // seconds the device must wait between polls
  UnixSeconds last_poll = 0;
  UnixSeconds expires_at = 0;
  // The resources (RFC 8707) asked for, space-separated (a URL has no space); empty: none named.
  std::string resources;
};

enum class DevicePoll { kUnknown, kExpired, kSlowDown, kPending, kDenied, kApproved, kUsed };

// What one poll of a device code gave; `grant_id` and `resources` are set for kApproved.
struct DevicePollResult {
  DevicePoll outcome = DevicePoll::kUnknown;
  int64_t interval = 0;
  std::string grant_id;
  std::string resources;
};

// Failed sign-ins counted under one key (a hash of an account, an address, or both).
struct LoginFailureCount {
  int64_t count = 0;
  UnixSeconds last = 0;
};

class FlowStore {
 public:
  virtual ~FlowStore() = default;

  static constexpr int64_t kSlowDownSeconds = 5;  // each poll too early adds this to the interval

  // Keeps a new request after dropping lapsed ones; false when `max` live ones already wait (live
  // ones are never dropped to make room). Across brokers the bound holds exactly on PostgreSQL.
  virtual Result<bool> PutPendingAuthorization(const PendingAuthorizationRecord& pending, UnixSeconds now,
                                               int64_t max) = 0;
  // The live request waiting for `grant_id`, left in place.
  virtual Result<std::optional<PendingAuthorizationRecord>> FindPendingAuthorization(std::string_view grant_id,
                                                                                     UnixSeconds now) = 0;
  // Removes the request for `grant_id` and returns it if it had not lapsed. Atomic: of two callers
  // racing for one request exactly one gets it.
  virtual Result<std::optional<PendingAuthorizationRecord>> TakePendingAuthorization(std::string_view grant_id,
                                                                                     UnixSeconds now) = 0;

  // Keeps a new device request after dropping lapsed ones; false when `max` live ones already wait.
  virtual Result<bool> PutDeviceAuthorization(const DeviceAuthorizationRecord& device, UnixSeconds now,
                                              int64_t max) = 0;
  // The live request whose user code hashes to `user_code_hash` and that no person entered yet.
  virtual Result<std::optional<DeviceAuthorizationRecord>> FindWaitingDevice(std::string_view user_code_hash,
                                                                             UnixSeconds now) = 0;
  // Ties the request to the grant its person is deciding on. Atomic: false when another caller
  // attached one first (a user code is entered once) or it lapsed.
  virtual Result<bool> AttachDeviceGrant(std::string_view device_code_hash, std::string_view grant_id,
                                         UnixSeconds now) = 0;
  // Undoes AttachDeviceGrant when its grant could not be stored.
  virtual Status DetachDeviceGrant(std::string_view device_code_hash, std::string_view grant_id) = 0;
  // The request still waiting for a decision on `grant_id`.
  virtual Result<std::optional<DeviceAuthorizationRecord>> FindDeviceByGrant(std::string_view grant_id) = 0;
  // Records the person's decision; false when no request waits for this grant. Atomic: one decision.
  virtual Result<bool> DecideDevice(std::string_view grant_id, bool approved) = 0;
  // One poll by `client_id` (RFC 8628 §3.5): a poll sooner than the interval after the last one is
  // kSlowDown and adds kSlowDownSeconds to the interval; an approved request is handed out once
  // (then kUsed). Atomic across brokers: two polls racing never both get kApproved.
  virtual Result<DevicePollResult> PollDevice(std::string_view device_code_hash, std::string_view client_id,
                                              UnixSeconds now) = 0;

  // Records a DPoP proof (the hash of its key and jti) signed by the key `jkt` until `forget_at`.
  // True when it had not been seen (or only lapsed); false for a replay. Atomic across brokers
  // (insert-if-absent). kUnavailable (retry_after_seconds set) when `max` live proofs are
  // remembered: a live one is never forgotten. So that one key cannot bring that about through
  // many brokers, kRateLimited (retry_after_seconds set) when half of `max` are live and `jkt`
  // holds a sixteenth of `max`. "Live" is this connection's count of every broker's proofs, taken
  // every 10 s (every second once a quarter are live) with its own added since; two brokers
  // counting a key's proofs at once may each let one more in.
  virtual Result<bool> RememberProof(std::string_view proof_hash, std::string_view jkt, UnixSeconds forget_at,
                                     UnixSeconds now, int64_t max) = 0;
  // About how many proofs RememberProof holds: its last count (at most 10 s old) and those since.
  virtual int64_t LiveProofs() const = 0;

  // The live failure count under `key`: zero when none, or when the last failure is more than
  // `window` seconds before `now`.
  virtual Result<LoginFailureCount> LoginFailures(std::string_view key, UnixSeconds now, int64_t window) = 0;
  // One more failure under `key` (a count whose last failure lapsed starts again at one). At most
  // `max` keys are kept: lapsed ones go first, then those touched longest ago make room.
  virtual Status CountLoginFailure(std::string_view key, UnixSeconds now, int64_t window, int64_t max) = 0;
  virtual Status ForgetLoginFailures(std::string_view key) = 0;

  // The key every broker on this database makes and checks DPoP nonces with: the first caller's
  // `candidate`, kept; every later caller gets that one.
  virtual Result<std::string> SharedNonceKey(std::string_view candidate) = 0;
};

}  // namespace ap::store
