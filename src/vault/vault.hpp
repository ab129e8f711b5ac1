#pragma once
// The provider keys this broker may spend, unsealed in memory: each owner's vault keys, and the
// environment's keys, which are the operator's. This is the only place a whole key lives besides
// the request that carries it upstream.
// A grant spends the key of its owner, for its provider, under the label bound at approval. The
// environment's keys go by the label "environment"; an owner other than the operator spends them
// only when the operator shares them (vault.share_environment_keys_with). Nobody ever spends
// another owner's vault key.
// Thread-safety: Find, Labels and Secrets may run on any thread at any time (they read an immutable
// snapshot, without a lock); Load, Put, Remove and NoteOwner replace the snapshot one at a time
// (the listener is told in the order of the changes) and may run concurrently with them.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.hpp"
#include "store/store.hpp"
#include "vault/master_key.hpp"

namespace ap::vault {

inline constexpr std::string_view kEnvironmentLabel = "environment";

// What the owner is shown of a key to tell it apart: its last kHintLength characters, of a key at
// least kMinHintedKey long; nothing of a shorter one (an environment key may be any length, and the
// last 4 of an 8-character key are half of it).
inline constexpr size_t kHintLength = 4;
inline constexpr size_t kMinHintedKey = 16;
inline std::string KeyHint(std::string_view secret) {
  return secret.size() < kMinHintedKey ? std::string() : std::string(secret.substr(secret.size() - kHintLength));
}

// One key the broker may spend.
struct HeldKey {
  std::string id;  // the vault key's id; empty for an environment key
  std::string owner_id;
  std::string provider;
  std::string label;
  std::string secret;  // the key itself: never log it, never answer with it
  // When a call last spent it (0: not since start), written to the store now and then.
  mutable std::atomic<UnixSeconds> last_used_at{0};
  ~HeldKey();
};
using KeyRef = std::shared_ptr<const HeldKey>;

// Who besides the operator may spend the environment's keys.
struct Sharing {
  bool everyone = false;
  std::set<std::string> usernames;
};

class Vault {
 public:
  Vault(MasterKey master, std::string operator_id, Sharing sharing);

  const MasterKey& Master() const { return master_; }
  const std::string& OperatorId() const { return operator_id_; }

  // The environment's key for each provider that has one (provider name -> key).
  void SetEnvironmentKeys(const std::map<std::string, std::string>& keys);
  // Replaces the vault keys with `records`, unsealed; one that does not open is logged and left
  // out (its grants get key_missing). `owners` tells which owners the sharing names.
  void Load(const std::vector<store::ProviderKeyRecord>& records, const std::vector<store::OwnerRecord>& owners);
  // A new key for `owner`, sealed under the master key: the record to store.
  store::ProviderKeyRecord Seal(std::string id, std::string owner_id, std::string provider, std::string label,
                                std::string_view secret, UnixSeconds now) const;
  // Holds a key just stored (replacing any of the same owner, provider and label).
  void Put(const store::ProviderKeyRecord& record, std::string_view secret);
  void Remove(std::string_view id);
  // Calls `listener` with every key held (Secrets()) now and after each change, for scrubbing
  // provider answers. Set once, before serving.
  void OnChange(std::function<void(const std::vector<std::string>&)> listener);
  // Lets `owner` spend the environment's keys if the sharing names them.
  void NoteOwner(const store::OwnerRecord& owner);

  // The key a grant of `owner_id` with `label` spends on `provider`; null when there is none.
  KeyRef Find(std::string_view owner_id, std::string_view provider, std::string_view label) const;
  // The labels `owner_id` may bind a grant for `provider` to: their vault keys' labels (sorted),
  // then "environment" if they may spend an environment key no vault key of theirs shadows.
  std::vector<std::string> Labels(std::string_view owner_id, std::string_view provider) const;
  // The environment key an owner may spend for `provider`, if any (for listing it).
  KeyRef EnvironmentKey(std::string_view owner_id, std::string_view provider) const;
  // Every key held, for scrubbing provider answers.
  std::vector<std::string> Secrets() const;
  // The vault keys spent since the last call, with when: for the store's last-used times.
  std::vector<std::pair<std::string, UnixSeconds>> TakeUsed();
  // How many keys' last uses TakeUsed remembers (at most the keys held).
  size_t RememberedUses() {
    std::lock_guard lock(mutex_);
    return reported_.size();
  }

 private:
  struct Snapshot {
    std::map<std::string, KeyRef, std::less<>> vault;        // "owner\0provider\0label"
    std::map<std::string, KeyRef, std::less<>> environment;  // by provider
    std::set<std::string, std::less<>> shared_owner_ids;
  };
  std::shared_ptr<const Snapshot> Current() const;
  bool MaySpendEnvironment(const Snapshot& s, std::string_view owner_id) const;
  template <class Edit>
  void Change(Edit edit);

  const MasterKey master_;
  const std::string operator_id_;
  const Sharing sharing_;
  std::mutex mutex_;  // one change at a time, the listener told in the order of the changes
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::function<void(const std::vector<std::string>&)> listener_;
  std::map<std::string, UnixSeconds> reported_;  // last-used times already handed out, by key id
};

}  // namespace ap::vault
