#pragma once
// The token signing key ring every broker on the database shares: each key's public JWK in clear,
// its private key sealed under the vault's master key (vault/signing_ring.hpp), so the store never
// holds a signing key in plain text. Methods block on I/O: call them on the store thread.
// Thread-safety: an implementation is used by one thread at a time.

#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace ap::store {

// One signing key.
struct SigningKeyRecord {
  std::string kid;         // the key's RFC 7638 thumbprint
  std::string public_jwk;  // the published JWK, JSON
  std::string sealed;            // the private key (PKCS#8 PEM) under its data key, bytes
  std::string wrapped_data_key;  // the data key under the master key, bytes
  std::string master_id;         // which master key wraps it (MasterKey::Id)
  UnixSeconds created_at = 0;

  bool operator==(const SigningKeyRecord&) const = default;
};

// What a new key does to the keys already in the ring: they go on verifying the tokens they signed
// (a routine rotation), or are dropped with it (they may have leaked).
enum class OlderKeys { kKeep, kDrop };

class SigningKeyStore {
 public:
  virtual ~SigningKeyStore() = default;
  // Every key, oldest first (by created_at, then kid).
  virtual Result<std::vector<SigningKeyRecord>> ListSigningKeys() = 0;
  // Stores `keys` and returns true when the ring is empty; stores nothing and returns false when
  // it holds a key. Of brokers starting at once on one database, exactly one stores its keys.
  // kUnavailable when the vault's keys are wrapped under another master key than these.
  virtual Result<bool> InitSigningKeys(const std::vector<SigningKeyRecord>& keys) = 0;
  // Adds `key` (with kDrop: deletes every other key) and, in the same transaction, a "signing_keys"
  // change, so every broker following the change feed reloads the ring at once. kBadRequest when
  // its kid is stored already; kUnavailable when it is not newer than every stored key (two
  // rotations within one second), and as InitSigningKeys.
  virtual Status AddSigningKey(const SigningKeyRecord& key, OlderKeys older) = 0;
};

}  // namespace ap::store
