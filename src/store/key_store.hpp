#pragma once
// Where the owners' provider keys are kept, sealed: the store never sees a key in plain text
// (see vault/). Methods block on I/O: call them on the store thread.
// Thread-safety: an implementation is used by one thread at a time.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace ap::store {

// One provider key of one owner.
struct ProviderKeyRecord {
  std::string id;
  std::string owner_id;
  std::string provider;  // "openai", "anthropic", "google" or a declared upstream's name
  std::string label;     // "personal", "team"...: grants bind to it
  std::string hint;      // the key's last 4 characters, the only part ever shown
  std::string sealed;    // the key under its data key (vault/sealing.hpp), bytes
  std::string wrapped_data_key;  // the data key under the master key, bytes
  std::string master_id;         // which master key wraps it (MasterKey::Id)
  UnixSeconds created_at = 0;
  std::optional<UnixSeconds> last_used_at;
};

// A data key wrapped anew under another master key.
struct RewrappedKey {
  std::string id;
  std::string wrapped_data_key;
};

// Keys an owner may keep: GET /keys answers them all in one list, and the vault holds each in memory.
inline constexpr int64_t kMaxKeysPerOwner = 100;

class KeyStore {
 public:
  virtual ~KeyStore() = default;
  // Stores `key`; an existing key of the same owner, provider and label is replaced by it (its row
  // is deleted). Returns the replaced key's id, if there was one. kUnavailable when the store's
  // keys are wrapped under a master key other than `key.master_id` (it was rotated); kValidation
  // on `label` when it would be the owner's key past kMaxKeysPerOwner (counted in the same
  // transaction, whichever broker or command adds it).
  virtual Result<std::optional<std::string>> PutKey(const ProviderKeyRecord& key) = 0;
  // The owner's keys (every owner's without one), by owner, provider, label.
  virtual Result<std::vector<ProviderKeyRecord>> ListKeys(std::optional<std::string_view> owner_id) = 0;
  // kNotFound when there is no such key.
  virtual Result<ProviderKeyRecord> GetKey(std::string_view id) = 0;
  // kNotFound when there is no such key.
  virtual Status DeleteKey(std::string_view id) = 0;
  // Records that the keys were used at `at` (a later time only moves it forward).
  virtual Status MarkKeysUsed(const std::vector<std::string>& ids, UnixSeconds at) = 0;
  // A number that changes whenever a key is added, replaced, removed or re-wrapped, so that a
  // broker notices changes made by another process (the CLI, another broker) cheaply. Each such
  // change is also a "keys" change in the change feed.
  virtual Result<int64_t> Version() = 0;
  // The id of the master key the data keys are wrapped under; none before the first key.
  virtual Result<std::optional<std::string>> MasterKeyId() = 0;
  // The audit chain's key, wrapped under the master key (bytes). Stores `wrapped_if_none` (made
  // under `master_id`) when there is none yet, so concurrent first users agree on one key.
  // kUnavailable when the store's keys are wrapped under another master key.
  virtual Result<std::string> WrappedAuditKey(std::string_view wrapped_if_none, std::string_view master_id) = 0;
  // In one transaction: replaces the listed provider keys' and signing keys' (id: the kid)
  // wrapped data keys and the wrapped audit key (when `audit_key` is not empty) and records
  // `new_master_id`, provided every stored key is listed and wrapped under `old_master_id`;
  // kUnavailable "changed concurrently" when a key was added or changed meanwhile (a race, not bad
  // input: read again and retry).
  virtual Status Rewrap(const std::vector<RewrappedKey>& keys, const std::vector<RewrappedKey>& signing_keys,
                        std::string_view audit_key, std::string_view old_master_id,
                        std::string_view new_master_id) = 0;
};

}  // namespace ap::store
