#pragma once
// Access tokens: compact JWS, EdDSA, `typ: at+jwt`, signed with the broker's current key.
// Verified tokens are remembered (the token itself is the key) until they expire, so a token costs
// one signature check in its life rather than one per call, and a call shares its claims rather
// than copying them.
// Thread-safety: Issue and Verify may be called from any thread.

#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"
#include "crypto/signing_keys.hpp"

namespace ap::domain {

struct TokenSettings {
  std::string issuer = "aipassport-broker";  // the broker sets its issuer (SetIdentity) before it serves
  // A token asked for no resource (RFC 8707) carries this audience and is good on every path.
  std::string audience = "aipassport";
  // The resources a token may be bound to instead (their URLs); any other audience is refused.
  std::vector<std::string> resources;
  int64_t ttl_seconds = 3600;
  int64_t leeway_seconds = 10;  // tolerated clock skew for exp, nbf and iat
};

struct AccessToken {
  std::string token;
  std::string jti;
  UnixSeconds issued_at = 0;
  UnixSeconds expires_at = 0;
};

struct TokenClaims {
  std::string grant_id;
  std::string jti;
  UnixSeconds issued_at = 0;
  UnixSeconds expires_at = 0;
  std::string client_id;  // empty for tokens of the reference's flow
  std::string jkt;        // cnf.jkt: the DPoP key the token is bound to; empty when not bound
  std::vector<std::string> audiences;  // aud: the default audience, or the resources it is bound to
};

class TokenService {
 public:
  TokenService(std::shared_ptr<const crypto::SigningKeyRing> keys, TokenSettings settings, Clock clock);

  // The keys in use; replaced as a whole when the ring on disk changes (rotation). A token
  // verified under the keys replaced is verified again under the new ones, so a key dropped from
  // the ring stops its tokens at once, also those verified before.
  std::shared_ptr<const crypto::SigningKeyRing> Keys() const { return keys_.load(); }
  void SetKeys(std::shared_ptr<const crypto::SigningKeyRing> keys);
  // The issuer its tokens name and the resources they may be bound to, known once the broker
  // listens. Call before any Issue or Verify: it is not synchronised with them.
  void SetIdentity(std::string issuer, std::vector<std::string> resources);
  const std::string& Issuer() const { return settings_.issuer; }
  const std::string& DefaultAudience() const { return settings_.audience; }

  // A token for `grant_id` that expires after the configured TTL, or at `not_after` if sooner;
  // with the RFC 9068 `client_id` claim when the token is for a registered OAuth client, and
  // `cnf.jkt` when it is bound to a DPoP key (RFC 9449). Its `aud` is `resources` (RFC 8707), or
  // the default audience when there are none. A child grant's token (delegation) names the chain
  // that handed it on, `actors` (its parent grant first), as RFC 8693 §4.1 `act` claims:
  // {"sub": parent, "client_id": ..., "act": {"sub": grandparent, ...}}.
  AccessToken Issue(const std::string& grant_id, std::optional<UnixSeconds> not_after,
                    std::string_view client_id = {}, std::string_view jkt = {},
                    const std::vector<std::string>& resources = {}, const std::vector<std::string>& actors = {}) const;
  // Checks the framing, our algorithm only, typ, a known kid, the signature, iss, aud (the default
  // audience or known resources), exp, nbf and iat. Every refusal is kUnauthorized with a message
  // fit for the caller.
  Result<std::shared_ptr<const TokenClaims>> Verify(std::string_view token) const;

 private:
  using Claims = std::shared_ptr<const TokenClaims>;
  Result<TokenClaims> VerifyUncached(std::string_view token, UnixSeconds now) const;
  Claims FindCached(std::string_view token, size_t hash, UnixSeconds now, uint64_t ring) const;
  void Remember(std::string_view token, size_t hash, const Claims& claims, UnixSeconds now, uint64_t ring) const;

  // The token's own bytes are the key: equal keys are equal tokens, with no digest to compute per
  // call (SHA-256 through OpenSSL's EVP cost more than the rest of the lookup). Only tokens whose
  // signature verified get in (tokens this broker signed: 514 bytes for the reference's flow, more
  // with a client_id and cnf), at most kShards * kMaxPerShard of them: about 900 bytes an entry
  // with its claims, some 30 MB when full (reckoned, as the SHA-256-keyed cache of twice as many
  // entries was, at about 26 MB).
  // Not noexcept: libstdc++ then keeps each node's hash, so a lookup compares hashes before bytes
  // and a rehash does not hash every token again.
  // Hashes the token's last kHashedTail bytes, which are its signature's: hashing all 500 of them
  // cost about 800 instructions a call. Only tokens whose signature verified are held, and two
  // signatures this broker made share their last 32 characters by chance only; a presented token
  // with a held token's tail is compared whole, and refused or verified as any other.
  struct TokenHash {
    using is_transparent = void;
    static constexpr size_t kHashedTail = 32;
    size_t operator()(std::string_view token) const {
      return std::hash<std::string_view>{}(token.substr(token.size() - std::min(token.size(), kHashedTail)));
    }
  };
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxPerShard = 2048;
  struct Shard {
    mutable std::mutex mutex;
    struct Verified {
      Claims claims;
      uint64_t ring;  // the ring_ its signature was verified under
    };
    std::unordered_map<std::string, Verified, TokenHash, std::equal_to<>> verified;
  };
  // Bits the map's own bucket index (hash % buckets) does not use first, so a shard's tokens still
  // spread over its buckets.
  Shard& ShardOf(size_t hash) const { return shards_[(hash >> 7) % kShards]; }

  std::atomic<std::shared_ptr<const crypto::SigningKeyRing>> keys_;
  std::atomic<uint64_t> ring_{0};  // counts the times keys_ was replaced
  TokenSettings settings_;
  Clock clock_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace ap::domain
