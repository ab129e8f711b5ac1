#pragma once
// The token signing key ring as every broker on a database shares it: the store keeps each key's
// public JWK in clear and its private key sealed as the vault seals a provider key (its own data
// key, wrapped under the master key, the kid bound to the seal), so a copy of the database does
// not sign tokens. A broker reads the ring at start and again whenever the change feed says it
// changed (cluster/change_follower.hpp); `aipassport keys rotate-signing` adds to it from anywhere.
// Thread-safety: functions; they block on the store, so call them on the store thread.

#include <filesystem>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"
#include "crypto/signing_keys.hpp"
#include "store/key_store.hpp"
#include "store/signing_key_store.hpp"
#include "vault/master_key.hpp"

namespace ap::vault {

// `key` sealed under `master` for the store.
store::SigningKeyRecord SealSigningKey(const MasterKey& master, const crypto::SigningKey& key);
// The keys of stored records, unsealed; kValidation when one does not open under `master` (another
// master key, or an edited row).
Result<std::vector<crypto::SigningKey>> UnsealSigningKeys(const MasterKey& master,
                                                          const std::vector<store::SigningKeyRecord>& records);

struct OpenedRing {
  std::vector<crypto::SigningKey> keys;          // every stored key
  std::vector<store::SigningKeyRecord> records;  // ...as stored, sealed
  size_t imported = 0;                           // key files of `data_dir` taken into an empty ring now
  bool created = false;                          // a first key was made now
};
// The ring, made when the store holds none: from the key files an older version kept in
// `data_dir` when there are some (they are not read again afterwards), else one new key. Of
// brokers starting at once on one database, one makes it and the others read theirs.
Result<OpenedRing> OpenSigningKeys(const MasterKey& master, store::SigningKeyStore& store,
                                   const std::filesystem::path& data_dir);
// Adds a key created `now`, which every broker publishes at once and signs with once the publish
// delay has passed, or at once when `older` is kDrop (it is then the ring's only key);
// kUnavailable when another was added this same second.
Result<crypto::SigningKey> AddSigningKey(const MasterKey& master, store::SigningKeyStore& store, UnixSeconds now,
                                         store::OlderKeys older);
// Every stored signing key's data key wrapped under `to` instead of `from` (id: the kid), for
// KeyStore::Rewrap.
Result<std::vector<store::RewrappedKey>> RewrapSigningKeys(const MasterKey& from, const MasterKey& to,
                                                           store::SigningKeyStore& store);

}  // namespace ap::vault
