#pragma once
// DPoP proofs (RFC 9449): an app proves, call by call, that it holds the private key its tokens
// are bound to. Every check of §4.3: exactly one proof; a JWT with typ dpop+jwt; an asymmetric
// algorithm (EdDSA, Ed25519 or ES256) and a public jwk in its header; a valid signature; htm and htu that
// match the request (htu without query or fragment); an iat inside the window; a jti never seen
// before within that window; with an access token, ath = its hash; and, where the caller requires
// one, a nonce the broker issued (DPoP-Nonce), good for 5 to 10 minutes.
// Nonces are MACs of the time window under a key: made at start, or the one every broker on the
// database shares (ShareNonceKey), so a nonce from one broker is good on every other.
// The jti check here is this process's: the first filter, which refuses a proof replayed to this
// process without a store trip. Several brokers share the check through the store: Check hands out
// what to remember there (api::CheckDpopProof). The jtis seen here are bounded
// (kMaxRememberedProofs); a jti is never forgotten inside its window, so when all are live a new
// proof is refused as kUnavailable (try again) rather than let a replay in. So that the holder of
// one key cannot bring that about alone, a key may hold more than a sixteenth of the jtis only while
// fewer than half are live: past that, its next proof is refused as kRateLimited (try again).
// Thread-safety: Check and Nonce may be called from any thread; ShareNonceKey only before them.

#include <atomic>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/time.hpp"

namespace ap::domain {

struct DpopRequest {
  std::span<const std::string_view> proofs;      // every DPoP header of the request
  std::string_view method;                       // "POST"
  std::string_view url;                          // scheme, host, port and path: what htu must name
  std::optional<std::string_view> access_token;  // on a protected resource: ath must be its hash
  bool require_nonce = false;                    // the proof must carry a nonce from Nonce()
  // The thumbprint the proof's key must have (a bound token's cnf.jkt), checked before the proof is
  // remembered: proofs signed by a key of one's own cannot fill the replay caches.
  std::optional<std::string_view> key = std::nullopt;
};

// The refusal of a proof without a fresh nonce; the caller answers use_dpop_nonce with a new one.
bool IsNonceRefusal(const Error& error);

// What to remember of a proof that passed: the SHA-256 (hex) of its key and jti, its key's
// thumbprint, until when.
struct DpopReplayKey {
  std::string proof_hash;
  std::string jkt;
  UnixSeconds forget_at = 0;
};

class DpopVerifier {
 public:
  // Proofs older than `max_age` or more than `max_skew` in the future are refused; at most
  // `max_remembered` proofs are remembered at once.
  explicit DpopVerifier(Clock clock, int64_t max_age_seconds = 300, int64_t max_skew_seconds = 30,
                        size_t max_remembered = kMaxRememberedProofs)
      : clock_(std::move(clock)), max_age_(max_age_seconds), max_skew_(max_skew_seconds),
        max_remembered_(max_remembered) {}

  static constexpr size_t kMaxRememberedProofs = 100000;

  // The thumbprint (jkt) of the proof's key, or kUnauthorized saying which check failed, or
  // kUnavailable (with retry_after_seconds) while the replay cache is full, or kRateLimited (with
  // retry_after_seconds) while the key holds more than its share of it. `replay`, when given,
  // is set to what other brokers must learn of an accepted proof.
  Result<std::string> Check(const DpopRequest& request, DpopReplayKey* replay = nullptr);
  // How many proofs the store holds for every broker on it (about): a key's share is then judged by
  // the fuller of that and this process's own cache.
  void NoteSharedProofs(int64_t live) { shared_live_.store(live > 0 ? static_cast<size_t>(live) : 0); }
  // Refuses the key `thumbprint`'s proofs here (kRateLimited) until `until`: the store found it
  // holding more than its share of every broker's proofs, so its next ones need no store trip.
  void HoldBack(const std::string& thumbprint, UnixSeconds until);
  // Makes and checks nonces with `key` from now on (call before serving).
  void ShareNonceKey(std::string key) { nonce_key_ = std::move(key); }
  // The nonce to hand out now (in a DPoP-Nonce header).
  std::string Nonce() const { return NonceFor(clock_() / kNonceWindowSeconds); }

 private:
  static constexpr int64_t kNonceWindowSeconds = 300;
  static constexpr size_t kMaxHeldBack = 1024;
  enum class Use { kFirst, kReplay, kFull, kKeyOverShare };
  struct Seen {
    UnixSeconds forget_at;
    std::pair<const std::string, size_t>* key;  // the proof's key and how many live jtis it holds
  };
  Use FirstUse(const std::string& thumbprint, std::string_view key_and_jti, UnixSeconds now);
  bool OverShare(size_t key_holds) const;
  void Forget(UnixSeconds now);
  std::string NonceFor(int64_t window) const;
  bool FreshNonce(std::string_view nonce, UnixSeconds now) const;

  Clock clock_;
  std::string nonce_key_ = RandomToken(32);
  int64_t max_age_;
  int64_t max_skew_;
  size_t max_remembered_;
  std::mutex mutex_;
  std::unordered_map<std::string, Seen> seen_;           // SHA-256 of key and jti
  std::unordered_map<std::string, size_t> live_by_key_;  // thumbprint -> live jtis (nodes do not move)
  std::unordered_map<std::string, UnixSeconds> held_back_;  // thumbprint -> refused here until (HoldBack)
  UnixSeconds pruned_at_ = 0;
  std::atomic<size_t> shared_live_ = 0;
};

// "https://host:port/path" from a request URL: scheme and host in lower case, no default port, no
// query or fragment; how htu values are compared.
std::string NormalizeHtu(std::string_view url);

}  // namespace ap::domain
